"""End to end in Chromium: test pages drive the JavaScript client against
daphne, a Celery worker and Redis; assertions read the page's DOM, the
browser's traffic and the REST API.

The pages are in ``tests/project/templates/pages/`` (served by
``tests/project/pages.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.services import free_port

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Locator,
        Page,
        WebSocket,
    )

    from tests.services import AsgiServer, CeleryWorker, DaphneServer, SessionCookie, Users

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

# Every wait is bounded; the machine may be busy, so none is tight.
TIMEOUT_MS = 20_000
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TASK_GET = re.compile(r"/tasks/[0-9a-f-]{36}/$")


@dataclass
class Traffic:
    """What a page did on the network and what went wrong in it."""

    sockets: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Record the WebSocket frames, task GETs and uncaught errors of ``page``."""
        page.on("websocket", self._socket)
        page.on("request", lambda r: self._request(r.method, r.url))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def _request(self, method: str, url: str) -> None:
        if method == "GET" and TASK_GET.search(url):
            self.polls.append(url)

    def subscribed(self, uuid: str) -> int:
        """How many ``subscribe`` frames were sent for ``uuid``."""
        return self.sent.count({"type": "subscribe", "uuid": uuid})

    def frames_about(self, uuid: str, kind: str) -> list[dict[str, Any]]:
        """The received frames of type ``kind`` about ``uuid``."""
        return [f for f in self.received if f.get("uuid") == uuid and f["type"] == kind]


@dataclass
class Alice:
    """A browser context logged in as alice, one page in it, and its traffic."""

    context: BrowserContext
    page: Page
    traffic: Traffic
    daphne: DaphneServer

    def open(self, name: str, query: str = "") -> Page:
        """Load the test page ``name``."""
        self.page.goto(f"/pages/{name}/{query}")
        return self.page

    def rest(self, path: str) -> Any:
        """GET ``path`` of the REST API as alice; the parsed JSON of a 200 answer."""
        response = self.context.request.get(path)
        assert response.status == 200, response.text()
        return response.json()

    def task(self, uuid: str) -> dict[str, Any]:
        """The task's JSON as REST serves it."""
        task: dict[str, Any] = self.rest(f"/tasks/{uuid}/")
        return task


@contextmanager
def logged_in(
    browser: Browser, server: AsgiServer, cookies: dict[str, str]
) -> Iterator[tuple[BrowserContext, Page, Traffic]]:
    """A browser context on ``server`` with ``cookies``, one page in it, and its traffic."""
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    try:
        page = context.new_page()
        traffic = Traffic()
        traffic.watch(page)
        yield context, page, traffic
    finally:
        context.close()


@pytest.fixture
def alice(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
) -> Iterator[Alice]:
    """alice's browser context on daphne, with the session and CSRF cookies."""
    cookies = session_cookie(users.alice).cookies
    with logged_in(browser, daphne_server, cookies) as (context, page, traffic):
        yield Alice(context=context, page=page, traffic=traffic, daphne=daphne_server)


def run(page: Page, task: str, inputs: dict[str, Any]) -> Locator:
    """Run ``task`` from the lab page; the row that follows it."""
    page.fill("#task", task)
    page.fill("#inputs", json.dumps(inputs))
    row = page.locator(f"#run-{page.locator('li.run').count() + 1}")
    page.click("#run")
    return row


def uuid_of(row: Locator) -> str:
    """The uuid the row shows, once the task is created."""
    expect(row.locator(".uuid")).to_have_text(re.compile(r"[0-9a-f-]{36}"), timeout=TIMEOUT_MS)
    uuid = row.locator(".uuid").inner_text()
    assert UUID.match(uuid), uuid
    return uuid


def progress_seen(row: Locator) -> list[int]:
    """The distinct progress values the row's progress callback saw, in order."""
    return [int(value) for value in row.locator(".log").inner_text().split()]


def assert_counted(row: Locator, count: int) -> list[int]:
    """The row ends ``succeeded`` with ``counted``, having seen progress only grow."""
    expect(row.locator(".status")).to_have_text("succeeded", timeout=TIMEOUT_MS)
    expect(row.locator(".result")).to_have_text(
        json.dumps({"counted": count}, separators=(",", ":"))
    )
    expect(row.locator(".error")).to_be_empty()
    seen = progress_seen(row)
    assert seen == sorted(seen), seen
    assert seen[-1] == count, seen
    return seen


def test_run_over_the_websocket(alice: Alice, tmp_path: Path) -> None:
    """Progress arrives live over /ws/tasks/, the promise resolves with the outputs, no polling."""
    page = alice.open("lab")
    expect(page.locator("#transport")).to_have_text("auto")
    row = run(page, "countdown", {"count": 10, "delay": 0.2})
    uuid = uuid_of(row)
    seen = assert_counted(row, 10)
    assert len({p for p in seen if 0 < p < 10}) >= 3, (
        f"too few intermediate progress values: {seen}"
    )

    traffic = alice.traffic
    assert traffic.sockets == [f"{alice.daphne.ws_url}/ws/tasks/"]
    assert traffic.subscribed(uuid) >= 1
    assert traffic.frames_about(uuid, "update"), "no live update frames"
    assert traffic.frames_about(uuid, "snapshot")[-1]["task"]["status"] == "succeeded"
    assert traffic.polls == []
    assert traffic.page_errors == []

    final = alice.task(uuid)
    assert final["status"] == "succeeded"
    assert final["outputs"] == {"counted": 10}
    page.screenshot(path=tmp_path / "lab.png", full_page=True)


@pytest.mark.parametrize("server", ["uvicorn_server", "granian_server"])
def test_run_over_the_websocket_on_other_servers(
    request: pytest.FixtureRequest,
    browser: Browser,
    celery_worker: CeleryWorker,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
    server: str,
) -> None:
    """The same page on uvicorn and on granian: live progress over the socket, no polling."""
    served: AsgiServer = request.getfixturevalue(server)
    cookies = session_cookie(users.alice).cookies
    with logged_in(browser, served, cookies) as (_, page, traffic):
        page.goto("/pages/lab/")
        row = run(page, "countdown", {"count": 10, "delay": 0.2})
        uuid = uuid_of(row)
        assert_counted(row, 10)
        assert traffic.sockets == [f"{served.ws_url}/ws/tasks/"]
        assert traffic.frames_about(uuid, "update"), "no live update frames"
        assert traffic.polls == []
        assert traffic.page_errors == []


@pytest.mark.parametrize("way", ["no-websocket", "closed-port", "polling-option"])
def test_falls_back_to_polling(alice: Alice, way: str) -> None:
    """Without a usable WebSocket the client polls GET /tasks/<uuid>/ and still completes."""
    query = ""
    closed = f"ws://127.0.0.1:{free_port()}/ws/tasks/"
    if way == "no-websocket":
        alice.page.add_init_script("window.WebSocket = undefined")
    elif way == "closed-port":
        query = f"?ws={closed}"
    else:
        query = "?transport=polling"
    page = alice.open("lab", query)
    expect(page.locator("#transport")).to_have_text(
        "polling" if way == "polling-option" else "auto"
    )
    row = run(page, "countdown", {"count": 10, "delay": 0.3})
    uuid = uuid_of(row)
    assert_counted(row, 10)

    traffic = alice.traffic
    assert len(traffic.polls) >= 2, traffic.polls
    assert set(traffic.polls) == {f"{alice.daphne.url}/tasks/{uuid}/"}
    if way == "closed-port":
        assert traffic.sockets, "the client did not try the WebSocket"
        assert set(traffic.sockets) == {closed}
    else:
        assert traffic.sockets == []
    assert traffic.received == []
    assert traffic.page_errors == []
    assert alice.task(uuid)["outputs"] == {"counted": 10}


def test_bad_inputs_show_field_errors(alice: Alice) -> None:
    """A 400 rejects with code bad_request; the page shows err.body.inputs next to the fields."""
    page = alice.open("form")
    page.fill("#count", "ten")
    page.fill("#colour", "red")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("bad_request", timeout=TIMEOUT_MS)
    expect(page.locator("#error-count")).to_have_text("A valid integer is required; got 'ten'.")
    expect(page.locator("#error-colour")).to_have_text(
        "Unexpected input 'colour'; known inputs: count, delay."
    )
    expect(page.locator("#error-delay")).to_be_empty()
    expect(page.locator("#error")).to_contain_text("HTTP 400: ")
    expect(page.locator("#error")).to_contain_text("inputs.count: A valid integer is required")
    assert alice.rest("/tasks/")["count"] == 0

    page.fill("#count", "3")
    page.fill("#colour", "")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=TIMEOUT_MS)
    expect(page.locator("#result")).to_have_text('{"counted":3}')
    for slot in ("#error-count", "#error-colour", "#error"):
        expect(page.locator(slot)).to_be_empty()
    assert [t["status"] for t in alice.rest("/tasks/")["results"]] == ["succeeded"]
    assert alice.traffic.page_errors == []


def test_cancel_button(alice: Alice) -> None:
    """Cancel stops a running task: the promise rejects with code cancelled, REST agrees."""
    page = alice.open("lab")
    row = run(page, "sleep", {"seconds": 30})
    uuid = uuid_of(row)
    expect(row.locator(".status")).to_have_text("running", timeout=TIMEOUT_MS)
    expect(row.locator(".progress")).to_contain_text("/ 300", timeout=TIMEOUT_MS)
    row.locator(".cancel").click()
    expect(row.locator(".status")).to_have_text("cancelled", timeout=TIMEOUT_MS)
    expect(row.locator(".error")).to_have_text("cancelled: Cancelled: The task was cancelled.")
    expect(row.locator(".result")).to_be_empty()

    final = alice.task(uuid)
    assert final["status"] == "cancelled"
    assert final["error"] == {"type": "Cancelled", "message": "The task was cancelled."}
    assert final["finished"] is not None
    assert final["progress"] < final["target"] == 300
    assert alice.traffic.page_errors == []


def test_watch_after_reload(alice: Alice) -> None:
    """A reloaded page finds the uuid saved from .started and follows the task with watch()."""
    page = alice.open("lab")
    row = run(page, "countdown", {"count": 40, "delay": 0.2})
    uuid = uuid_of(row)
    expect(row.locator(".progress")).to_contain_text("/ 40", timeout=TIMEOUT_MS)
    assert page.evaluate("localStorage.getItem('task-uuid')") == uuid
    assert alice.task(uuid)["status"] == "running", "the task ended before the reload"

    sent_before_reload = len(alice.traffic.sent)
    page.reload()
    watched = page.locator("#run-1")
    expect(watched.locator(".name")).to_have_text("watch")
    expect(watched.locator(".uuid")).to_have_text(uuid)
    expect(page.locator("li.run")).to_have_count(1)
    assert_counted(watched, 40)
    assert {"type": "subscribe", "uuid": uuid} in alice.traffic.sent[sent_before_reload:]
    assert alice.task(uuid)["outputs"] == {"counted": 40}
    assert alice.traffic.page_errors == []


def test_page_written_for_the_1x_client(alice: Alice) -> None:
    """The 1.x documentation's example page and snippets work unchanged."""
    page = alice.open("legacy")
    status, button = page.locator("#status"), page.locator("#button")
    expect(status).to_have_text('Click "Run" to start the task.')
    page.evaluate(
        """() => {
            const status = document.getElementById('status')
            window.statusLog = []
            new MutationObserver(() => statusLog.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true})
        }"""
    )
    button.click()
    expect(button).to_be_disabled()
    expect(status).to_have_text("Progress: 10 / 10", timeout=TIMEOUT_MS)
    expect(button).to_be_enabled(timeout=TIMEOUT_MS)
    log: list[str] = page.evaluate("statusLog")
    assert all(re.fullmatch(r"Progress: \d+ / 10", text) for text in log), log
    values = [int(text.split()[1]) for text in log]
    assert values == sorted(values), values
    assert any(0 < v < 10 for v in values), f"no intermediate progress shown: {log}"

    def said(text: str, script: str) -> None:
        with page.expect_console_message(
            lambda m: m.text.startswith(text.split()[0]), timeout=TIMEOUT_MS
        ) as message:
            page.evaluate(script)
        got: ConsoleMessage = message.value
        assert got.text == text

    said("Sum: 5", "sumTask([2, 3])")
    said("Error. failed: disk full", "promiseFailTask()")
    said("Error! failed: disk full", "callbackFailTask()")
    statuses = [t["status"] for t in alice.rest("/tasks/")["results"]]
    assert sorted(statuses) == ["failed", "failed", "succeeded", "succeeded"]
    assert alice.traffic.page_errors == []


def test_two_tasks_share_one_websocket(alice: Alice) -> None:
    """Two tasks followed at once on a page go over a single WebSocket."""
    page = alice.open("lab")
    first = run(page, "countdown", {"count": 10, "delay": 0.3})
    second = run(page, "countdown", {"count": 6, "delay": 0.3})
    uuids = [uuid_of(first), uuid_of(second)]
    assert uuids[0] != uuids[1]
    assert_counted(first, 10)
    assert_counted(second, 6)

    traffic = alice.traffic
    assert len(traffic.sockets) == 1, traffic.sockets
    for uuid in uuids:
        assert traffic.subscribed(uuid) >= 1
        assert traffic.frames_about(uuid, "snapshot")[-1]["task"]["status"] == "succeeded"
    assert traffic.polls == []
    assert traffic.page_errors == []


def test_failed_task_shows_its_error(alice: Alice) -> None:
    """A task that raises rejects with code failed and the task's error message."""
    page = alice.open("lab")
    row = run(page, "fail", {"reason": "disk full"})
    uuid = uuid_of(row)
    expect(row.locator(".status")).to_have_text("failed", timeout=TIMEOUT_MS)
    expect(row.locator(".error")).to_have_text("failed: ValueError: disk full")
    expect(row.locator(".result")).to_be_empty()

    final = alice.task(uuid)
    assert final["status"] == "failed"
    assert final["error"] == {"type": "ValueError", "message": "disk full"}
    assert alice.traffic.page_errors == []


@pytest.mark.alone  # the socket must come back before the task ends
def test_server_restart_mid_task(alice: Alice) -> None:
    """When daphne restarts under a running task, the page polls, reconnects and completes."""
    page = alice.open("lab")
    # Long enough for the socket to come back (retries after 1, 3, 7 s) before the end.
    row = run(page, "countdown", {"count": 40, "delay": 0.3})
    uuid = uuid_of(row)
    expect(row.locator(".progress")).to_contain_text("/ 40", timeout=TIMEOUT_MS)
    alice.daphne.restart()
    assert_counted(row, 40)

    traffic = alice.traffic
    assert len(traffic.sockets) >= 2, f"the WebSocket was not reopened: {traffic.sockets}"
    assert traffic.subscribed(uuid) >= 2
    assert traffic.frames_about(uuid, "snapshot")[-1]["task"]["status"] == "succeeded"
    assert traffic.page_errors == []
