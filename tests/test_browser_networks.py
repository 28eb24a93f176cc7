"""The JavaScript client in Chromium under bad networks: a WebSocket that never
opens, a minute's worth of failed polls compressed into a few seconds, and
daphne restarted under 200 raw WebSocket clients and the JS client."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from task_api.models import TaskRecord
from tests.test_browser import TASK_GET, TIMEOUT_MS, Alice, alice, assert_counted, run, uuid_of
from tests.watching import RestClient, watch

if TYPE_CHECKING:
    from playwright.sync_api import Route

__all__ = ["alice"]  # the fixture, shared with the other browser tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # connections wait in the backlog: never accepted, never refused
        yield listener.getsockname()[1]


def test_a_socket_stuck_connecting_falls_back_to_polling(alice: Alice, black_hole: int) -> None:
    stuck = f"ws://127.0.0.1:{black_hole}/ws/tasks/"
    page = alice.open("lab", f"?ws={stuck}&poll=200")
    row = run(page, "countdown", {"count": 10, "delay": 0.8})
    uuid = uuid_of(row)
    assert_counted(row, 10)
    traffic = alice.traffic
    assert stuck in traffic.sockets, traffic.sockets
    assert traffic.received == []
    assert len(traffic.polls) >= 3, "never fell back to polling"
    assert alice.task(uuid)["outputs"] == {"counted": 10}
    assert traffic.page_errors == []


def test_failed_polls_never_reject_a_task_that_then_succeeds(alice: Alice) -> None:
    """Network errors, 502, 503 and 500 in a row; ``maxRetries: 0`` does not matter to polling."""
    failures = ["abort", 502, 503, 500, "abort"]
    answered: list[str] = []

    def flaky(route: Route) -> None:
        if failures:
            failure = failures.pop(0)
            answered.append(str(failure))
            if failure == "abort":
                route.abort("connectionreset")
            else:
                route.fulfill(status=int(failure), body="<html>Bad Gateway</html>")
        else:
            route.continue_()

    alice.page.route(TASK_GET, flaky)
    page = alice.open("lab", "?transport=polling&poll=100&retries=0")
    row = run(page, "countdown", {"count": 5, "delay": 0.2})
    uuid_of(row)
    assert_counted(row, 5)
    assert answered == ["abort", "502", "503", "500", "abort"]
    expect(row.locator(".error")).to_be_empty(timeout=TIMEOUT_MS)
    assert alice.traffic.page_errors == []


TASKS = 4
RAW_WATCHERS_PER_TASK = 50


def test_daphne_restarted_with_200_watching_clients(
    alice: Alice, users: Any, session_cookie: Any
) -> None:
    """Raw WebSocket clients following docs/protocol.md, and the JS client, all end final."""
    daphne = alice.daphne
    rest = RestClient(daphne.url, "alice", "pw-alice")
    uuids = [rest.start("countdown", {"count": 20, "delay": 0.15})["uuid"] for _ in range(TASKS)]
    cookie = session_cookie(users.alice).header

    async def raw_clients() -> list[Any]:
        return await asyncio.gather(
            *(
                watch(daphne.ws_url, cookie, daphne.url, uuid, timeout=90)
                for uuid in uuids
                for _ in range(RAW_WATCHERS_PER_TASK)
            )
        )

    page = alice.open("lab")
    page.evaluate(
        "uuids => { window.finals = Promise.all(uuids.map(u => TaskAPI.watch(u)"
        ".then(t => [t.uuid, t.status, t.seq], e => [u, 'rejected ' + e.code, 0]))) }",
        uuids,
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        raw = pool.submit(asyncio.run, raw_clients())
        time.sleep(1.5)  # every client is subscribed and has seen progress
        daphne.restart()
        seen = raw.result(timeout=120)
    js = page.evaluate("() => window.finals")
    stored = {str(r.uuid): r for r in TaskRecord.objects.filter(uuid__in=uuids)}
    assert all(r.status == "succeeded" for r in stored.values())
    assert len(seen) == TASKS * RAW_WATCHERS_PER_TASK == 200
    for final, frames in seen:
        assert final is not None, frames[-3:]
        assert final["status"] == "succeeded"
        assert final["seq"] == stored[final["uuid"]].seq
    assert sorted(js) == sorted([u, "succeeded", stored[u].seq] for u in uuids)
    assert len(alice.traffic.sockets) >= 2, "the JS client's socket was not reopened"
    assert alice.traffic.page_errors == []
