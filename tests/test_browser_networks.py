"""The JavaScript client in Chromium under bad networks: a WebSocket that never
opens, and a minute's worth of failed polls compressed into a few seconds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.test_browser import TASK_GET, TIMEOUT_MS, Alice, alice, assert_counted, run, uuid_of

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
