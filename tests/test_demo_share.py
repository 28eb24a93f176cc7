"""The demo's share links in Chromium: a run card's Share button makes a link whose page,
opened in a fresh browser context (no session cookie), follows the run live to its end;
an expired, revoked or tampered token shows its code there, and a token of another run
opens nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.test_demo import UI_TIMEOUT_MS, start_demo  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CARD = '.run[data-task="countdown"]'


def _countdown(page: Page, seconds: int) -> str:
    """Starts a countdown from the demo's form; its uuid."""
    before = page.locator(CARD).count()
    form = page.locator('form[data-task="countdown"]')
    form.locator('[name="seconds"]').fill(str(seconds))
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        f"n => document.querySelectorAll('{CARD}[data-uuid]').length > n", arg=before
    )
    return page.locator(CARD).first.get_attribute("data-uuid") or ""


def _shared_page(browser: Browser, url: str) -> Page:
    """``url`` in a fresh context: no cookies, no storage, nobody logged in."""
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    return page


def _refusal(browser: Browser, url: str) -> tuple[str, float]:
    """The error code the share page at ``url`` shows, and the progress it shows."""
    page = _shared_page(browser, url)
    try:
        page.wait_for_selector("#shared-error[data-code]")
        code = page.locator("#shared-error").get_attribute("data-code") or ""
        percent = float(page.locator("#shared-bar").get_attribute("aria-valuenow") or 0)
        assert page.locator("#shared").get_attribute("data-status") == "refused"
        return code, percent
    finally:
        page.context.close()


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(240)
def test_a_share_link_follows_the_run_without_a_login(
    start_demo: Any,  # noqa: F811
    page: Page,
    browser: Browser,
) -> None:
    from playwright.sync_api import expect

    demo = start_demo()
    page.goto(demo.url + "/")
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    uuid = _countdown(page, 8)
    card = page.locator(f'.run[data-uuid="{uuid}"]')
    card.locator('[data-action="share"]').click()
    link = card.locator(".share-link a")
    expect(link).to_be_visible(timeout=UI_TIMEOUT_MS)
    url = link.get_attribute("href") or ""
    assert url.startswith(f"{demo.url}/share/#share=share_"), url
    assert url.endswith(f"&task={uuid}"), url

    visitor = _shared_page(browser, url)
    try:
        sent: list[str] = []
        visitor.on("request", lambda r: sent.append(r.url))
        assert visitor.context.cookies() == []
        visitor.wait_for_selector('#shared[data-status="running"]')
        visitor.wait_for_function(
            "Number(document.getElementById('shared-bar').getAttribute('aria-valuenow')) > 0"
        )
        first = int(visitor.locator("#shared-bar").get_attribute("aria-valuenow") or 0)
        visitor.wait_for_function(
            "n => Number(document.getElementById('shared-bar').getAttribute('aria-valuenow')) > n",
            arg=first,
        )
        visitor.wait_for_selector('#shared[data-status="succeeded"]', timeout=2 * UI_TIMEOUT_MS)
        expect(visitor.locator("#shared-percent")).to_have_text("100%")
        expect(visitor.locator("#shared-outputs")).to_contain_text("elapsed")
        expect(visitor.locator("#shared-error")).to_be_hidden()
        assert not any("share_" in u for u in sent), "the token went into a URL"
    finally:
        visitor.context.close()

    token = url.split("#share=")[1].split("&")[0]
    # Tampered: one character changed.
    tampered = url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert _refusal(browser, tampered)[0] == "share_invalid"
    # Another run's uuid with this token: nothing of it is shown.
    other = _countdown(page, 3)
    code, percent = _refusal(browser, url.replace(uuid, other))
    assert (code, percent) == ("http_error", 0)
    # Expired.
    short = page.evaluate(
        "uuid => TaskAPI.share(uuid, {expiresIn: 1}).then(link => link.token)", uuid
    )
    page.wait_for_timeout(1500)
    assert _refusal(browser, url.replace(token, short))[0] == "share_expired"
    # Revoked: every link of the run.
    assert page.evaluate("uuid => TaskAPI.revokeShares(uuid)", uuid) >= 1
    assert _refusal(browser, url)[0] == "share_revoked"
