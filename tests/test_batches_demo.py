"""The demo's batch panel in Chromium: one bar for five tasks, live, and after a reload."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.test_demo import UI_TIMEOUT_MS, start_demo  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(120)
def test_demo_runs_a_batch_with_one_bar(start_demo: Any, page: Page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    demo = start_demo()
    frames: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda data: frames.append(json.loads(data))),
    )
    page.goto(demo.url + "/")
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    panel = page.locator("#batch")
    panel.locator('[data-action="run-batch"]').click()
    page.wait_for_function(
        """() => {
            const now = Number(document.querySelector('#batch .progress-bar')
                .getAttribute('aria-valuenow'))
            return now > 0 && now < 100
        }""",
        timeout=UI_TIMEOUT_MS,
    )
    expect(panel).to_have_attribute("data-status", "failed", timeout=UI_TIMEOUT_MS)
    expect(panel.locator(".batch-counts")).to_have_text("5 of 5 done · 1 failed")
    expect(panel.locator(".batch-results")).to_have_text("Ended failed: flaky (ConnectionError)")
    expect(panel.locator('[data-action="cancel-batch"]')).to_be_hidden()
    uuid = panel.get_attribute("data-uuid")
    pushed = [f for f in frames if f.get("batch") == uuid]
    assert [f for f in pushed if f["type"] == "batch_update"], frames
    assert (pushed[-1].get("set") or pushed[-1]["data"])["status"] == "failed"
    # Counting 1 to 4 seconds at 10 ticks a second, and the flaky task to 50 of 100.
    rest = page.request.get(f"{demo.url}/tasks/batches/{uuid}/").json()
    assert (rest["progress"], rest["target"]) == (100 + 50, 100 + 100)
    assert rest["counts"]["succeeded"] == 4

    page.reload()
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    expect(panel).to_have_attribute("data-status", "failed", timeout=UI_TIMEOUT_MS)
    expect(panel.locator(".batch-counts")).to_have_text("5 of 5 done · 1 failed")
    demo.stop()
