"""``@task`` functions end to end (Django 6, or the backport on 5.2): a view of daphne
enqueues them, a Celery worker runs them, and REST, the WebSocket, ``get_result`` and
Chromium watch them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from task_api.functions import django_tasks_available

if not django_tasks_available():
    pytest.skip("@task functions need Django 6 or django-tasks", allow_module_level=True)

import redis
import requests
from playwright.sync_api import expect

from task_api.compat import TaskResultStatus
from task_api.models import TaskRecord
from tests.project import functions
from tests.watching import RestClient, watch

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, RedisServer, SessionCookie, Users

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

STATUS = {
    "pending": TaskResultStatus.READY,
    "running": TaskResultStatus.RUNNING,
    "succeeded": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "cancelled": TaskResultStatus.FAILED,
}


class Visitor:
    """A logged-in user of daphne: the project's views with the session, the API with REST."""

    def __init__(self, daphne: DaphneServer, cookie: SessionCookie, name: str) -> None:
        self.daphne = daphne
        self.cookie = cookie
        self.rest = RestClient(daphne.url, name, f"pw-{name}")

    def enqueue(self, function: str, defer: float | None = None, **inputs: Any) -> str:
        """Have the project's view enqueue ``function``; the ``TaskResult.id`` it answers."""
        params = {"inputs": json.dumps(inputs), "format": "json"}
        if defer is not None:
            params["defer"] = str(defer)
        response = requests.get(
            f"{self.daphne.url}/functions/{function}/",
            params=params,
            cookies=self.cookie.cookies,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def watch(self, uuid: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        return asyncio.run(watch(self.daphne.ws_url, self.cookie.header, self.daphne.url, uuid))


@pytest.fixture
def visitors(
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
) -> tuple[Visitor, Visitor]:
    return (
        Visitor(daphne_server, session_cookie(users.alice), "alice"),
        Visitor(daphne_server, session_cookie(users.bob), "bob"),
    )


@pytest.fixture
def signals_seen(redis_server: RedisServer) -> Callable[[str], list[tuple[str, str]]]:
    """Django's task signals that daphne and the worker received for a task id."""
    client = redis.Redis.from_url(redis_server.url)
    client.delete(functions.SIGNALS_KEY)

    def seen(uuid: str) -> list[tuple[str, str]]:
        entries = [json.loads(raw) for raw in client.lrange(functions.SIGNALS_KEY, 0, -1)]
        return [(e["signal"], e["status"]) for e in entries if e["id"] == uuid]

    return seen


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_progress_and_messages_over_the_websocket_and_rest(
    visitors: tuple[Visitor, Visitor], signals_seen: Callable[[str], list[tuple[str, str]]]
) -> None:
    alice, bob = visitors
    uuid = alice.enqueue("count", n=15, delay=0.05, label="row")
    final, frames = alice.watch(uuid)
    assert final is not None
    assert final["task"] == "tests.project.functions.count"
    assert final["status"] == "succeeded"
    assert final["outputs"] == {"return_value": 15}
    assert final["messages"] == [f"row {i}" for i in range(1, 16)]
    live = [
        f["set"]["progress"] for f in frames if f["type"] == "update" and f["set"].get("progress")
    ]
    assert live, "no live progress frames"
    assert live == sorted(live)
    assert alice.rest.get(uuid).json() == final
    result = functions.count.get_result(uuid)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 15
    assert result.attempts == 1
    wait_for(lambda: len(signals_seen(uuid)) == 3, "three signals")
    assert sorted(signals_seen(uuid)) == [
        ("task_enqueued", "READY"),
        ("task_finished", "SUCCESSFUL"),
        ("task_started", "RUNNING"),
    ]
    # The task is alice's: bob cannot read, watch or cancel it.
    assert bob.rest.get(uuid).status_code == 404
    assert bob.rest.session.post(f"{bob.daphne.url}/tasks/{uuid}/cancel/").status_code == 404
    refused, frames = bob.watch(uuid)
    assert refused is None
    assert frames[0]["code"] == "not_found"


def test_get_result_agrees_with_rest_at_every_status(visitors: tuple[Visitor, Visitor]) -> None:
    alice, _ = visitors
    uuid = alice.enqueue("count", n=30, delay=0.05)
    seen = set()
    deadline = time.monotonic() + 30
    while True:
        before = alice.rest.get(uuid).json()["status"]
        result = functions.count.get_result(uuid)
        after = alice.rest.get(uuid).json()["status"]
        if before == after:  # no change between the three reads
            assert result.status == STATUS[before], (before, result.status)
            seen.add(before)
        if before == after == "succeeded":
            break
        assert time.monotonic() < deadline, f"still {after}"
    assert {"running", "succeeded"} <= seen


def test_cancel_stops_a_function_that_swallows_every_exception(
    visitors: tuple[Visitor, Visitor], signals_seen: Callable[[str], list[tuple[str, str]]]
) -> None:
    alice, _ = visitors
    uuid = alice.enqueue("stubborn", seconds=30)
    wait_for(lambda: (alice.rest.get(uuid).json()["progress"] or 0) > 0, "progress")
    response = alice.rest.session.post(f"{alice.daphne.url}/tasks/{uuid}/cancel/", timeout=10)
    assert response.status_code == 202, response.text
    final = alice.rest.wait(uuid, timeout=20)
    assert final["status"] == "cancelled"
    result = functions.stubborn.get_result(uuid)
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["task_api.exceptions.Cancelled"]
    wait_for(lambda: ("task_finished", "FAILED") in signals_seen(uuid), "task_finished")


def test_run_after_holds_the_task_until_then(visitors: tuple[Visitor, Visitor]) -> None:
    alice, _ = visitors
    uuid = alice.enqueue("count", defer=1.5, n=1)
    assert alice.rest.get(uuid).json()["status"] == "pending"
    # Stored, so that a message sent again after a broker reconnection keeps it.
    record = TaskRecord.objects.get(uuid=uuid)
    assert record.run_after is not None
    assert 1.4 <= (record.run_after - record.created).total_seconds() <= 5
    final = alice.rest.wait(uuid, timeout=20)
    assert final["status"] == "succeeded"
    started = datetime.fromisoformat(final["started"])
    created = datetime.fromisoformat(final["created"])
    # The worker received it at once, and held it until run_after.
    assert (started - created).total_seconds() >= 1.4


def test_a_typed_function_started_over_rest(visitors: tuple[Visitor, Visitor]) -> None:
    alice, _ = visitors
    failed = alice.rest.start("tests.project.functions.explode", {"reason": "disk full"})
    final = alice.rest.wait(failed["uuid"])
    assert final["error"] == {"type": "ValueError", "message": "disk full"}
    (error,) = functions.explode.get_result(failed["uuid"]).errors
    assert error.exception_class is ValueError
    bad = alice.rest.session.post(
        f"{alice.daphne.url}/tasks/",
        json={"task": "tests.project.functions.count", "inputs": {"n": "x", "extra": 1}},
        timeout=10,
    )
    assert bad.status_code == 400
    assert set(bad.json()["inputs"]) == {"n", "extra"}
    unlisted = alice.rest.session.post(
        f"{alice.daphne.url}/tasks/",
        json={"task": "tests.project.functions.stubborn", "inputs": {}},
        timeout=10,
    )
    assert unlisted.status_code == 400
    assert "Unknown task" in unlisted.json()["task"][0]


@pytest.mark.browser
def test_a_page_watches_the_task_its_view_enqueued(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
) -> None:
    context = browser.new_context(base_url=daphne_server.url)
    context.set_default_timeout(20_000)
    cookies = session_cookie(users.alice).cookies
    context.add_cookies(
        [{"name": k, "value": v, "url": daphne_server.url} for k, v in cookies.items()]
    )
    try:
        page = context.new_page()
        inputs = json.dumps({"n": 10, "delay": 0.1, "label": "step"})
        page.goto(f"/functions/count/?inputs={inputs}")
        expect(page.locator("#status")).to_have_text("succeeded")
        expect(page.locator("#outputs")).to_have_text('{"return_value":10}')
        expect(page.locator("#messages li")).to_have_count(10)
        seen = [int(v) for v in page.locator("#progress").inner_text().split()]
        assert seen == sorted(seen)
        assert seen[-1] == 10
        assert len(set(seen)) >= 2, f"the page saw no live progress: {seen}"
        uuid = page.locator("#id").inner_text()
        assert functions.count.get_result(uuid).return_value == 10
    finally:
        context.close()
