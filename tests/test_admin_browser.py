"""The admin in Chromium, against daphne, a Celery worker and Redis: the task list's progress
bars follow running tasks live over the page's one WebSocket, and an action cancels one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from playwright.sync_api import expect

from tests.services import PASSWORDS

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser, Page

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT_MS = 20_000
TASK_GET = re.compile(r"/tasks/[0-9a-f-]{36}/$")


@pytest.fixture
def admin_page(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
) -> Iterator[Page]:
    """A page of a superuser's browser context on daphne."""
    from django.contrib.auth.models import User

    root = User.objects.create(username="root", is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=daphne_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    cookies = session_cookie(root).cookies
    context.add_cookies(
        [{"name": k, "value": v, "url": daphne_server.url} for k, v in cookies.items()]
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def start(daphne: DaphneServer, task: str, inputs: dict[str, Any]) -> str:
    """Start a task as alice over REST; its uuid."""
    response = requests.post(
        f"{daphne.url}/tasks/",
        json={"task": task, "inputs": inputs},
        auth=("alice", PASSWORDS["alice"]),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def test_the_task_list_follows_progress_live_and_an_action_cancels(
    admin_page: Page, daphne_server: DaphneServer
) -> None:
    slow = start(daphne_server, "countdown", {"count": 300, "delay": 0.1})
    watched = start(daphne_server, "countdown", {"count": 30, "delay": 0.2})
    page = admin_page
    sockets: list[str] = []
    polls: list[str] = []
    errors: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.on("request", lambda r: polls.extend(re.findall(TASK_GET, r.url)))
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto("/admin/task_api/taskrecord/")
    page.evaluate("window.notReloaded = true")
    bar = page.locator(f'.task-api-progress[data-uuid="{watched}"]')
    label = bar.locator(".task-api-label")
    first = label.inner_text()
    assert first != "100 %"
    seen = [first]
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while seen[-1] != "100 %":
        assert time.monotonic() < deadline, f"the bar stopped at {seen}"
        time.sleep(0.05)
        if (text := label.inner_text()) != seen[-1]:
            seen.append(text)
    percents = [int(text.removesuffix(" %")) for text in seen if text.endswith(" %")]
    assert percents == sorted(percents), seen
    assert len([p for p in percents if 0 < p < 100]) >= 2, f"too few steps seen live: {seen}"
    assert bar.locator("progress").evaluate("bar => [bar.value, bar.max]") == [30, 30]
    expect(page.locator(f'[data-status-of="{watched}"]')).to_have_text("Succeeded")
    assert page.evaluate("window.notReloaded") is True

    # Cancel the slow one with the list's action: the page reloads, the row follows it.
    page.locator(f'tr:has([data-uuid="{slow}"]) input.action-select').check()
    page.select_option("select[name=action]", "cancel_tasks")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Asked 1 task to stop.")
    expect(page.locator(f'[data-status-of="{slow}"]')).to_have_text("Cancelled")
    answer = requests.get(
        f"{daphne_server.url}/tasks/{slow}/", auth=("alice", PASSWORDS["alice"]), timeout=10
    ).json()
    assert (answer["status"], answer["cancel_requested"]) == ("cancelled", True)

    assert sockets == [f"{daphne_server.ws_url}/ws/tasks/"] * 2  # one per page load
    assert polls == []
    assert errors == []
