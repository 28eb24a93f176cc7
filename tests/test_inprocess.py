"""The in-process backend: tasks run in a thread pool of this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from task_api.engine import flusher
from task_api.engine.lifecycle import cancel
from task_api.engine.service import start as start_task
from task_api.models import TaskRecord
from task_api.params import IntParameter, NumberParameter
from task_api.tasks import Task
from tests.project.tasks import Add

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("succeeded", "failed", "cancelled")


class Limited(Task):
    """Keeps reporting progress, past its soft time limit."""

    name = "limited"
    inputs = {"seconds": NumberParameter()}
    soft_time_limit = 0.3

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.02)
            self.inc_progress()


class FlakyOnce(Task):
    """Fails with a connection error on its first attempt only."""

    name = "flaky-once"
    outputs = {"runs": IntParameter()}
    retry_on = (ConnectionError,)
    retry_backoff = 0.05
    runs: ClassVar[int] = 0

    def run(self) -> int:
        type(self).runs += 1
        if type(self).runs == 1:
            raise ConnectionError("the service is not there yet")
        return type(self).runs


class Paced(Task):
    """Sets its progress 100 000 times over about half a second."""

    name = "paced"

    def run(self) -> None:
        self.set_target(100_000)
        for i in range(1, 100_001):
            self.set_progress(i)
            if i % 10_000 == 0:
                time.sleep(0.05)


@pytest.fixture(autouse=True)
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_BACKGROUND_TASKS = [
        *django_settings.TASK_API_BACKGROUND_TASKS,
        Limited,
        FlakyOnce,
        Paced,
    ]


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def start(api: APIClient, task: str, inputs: dict[str, Any]) -> str:
    response = api.post("/tasks/", {"task": task, "inputs": inputs}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] in ("pending", "running", *TERMINAL)
    return str(response.json()["uuid"])


def wait_for(
    uuid: str,
    done: Callable[[TaskRecord], bool] = lambda r: r.status in TERMINAL,
    timeout: float = 10,
) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = TaskRecord.objects.get(uuid=uuid)
        if done(record):
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"task {uuid} is still {record.status} after {timeout} s")
        time.sleep(0.01)


def test_tasks_run_in_the_thread_pool_and_succeed(api: APIClient) -> None:
    uuid = start(api, "multi", {"text": "hey"})
    record = wait_for(uuid)
    assert record.status == "succeeded"
    assert record.outputs == {"upper": "HEY", "info": {"text": "hey"}, "length": 3}
    assert record.attempt == 1
    assert record.started is not None
    assert record.finished is not None
    assert record.finished >= record.started
    assert api.get(f"/tasks/{uuid}/").json()["outputs"] == record.outputs


@pytest.mark.parametrize(
    ("task", "inputs", "error_type"),
    [
        ("fail", {"reason": "no disk"}, "ValueError"),
        ("bad-output", {"mode": "extra"}, "OutputError"),
    ],
)
def test_failures_are_stored(api: APIClient, task: str, inputs: Any, error_type: str) -> None:
    record = wait_for(start(api, task, inputs))
    assert record.status == "failed"
    assert record.error is not None
    assert record.error["type"] == error_type
    assert "Traceback" in record.traceback
    assert record.outputs == {}


def test_progress_and_messages_are_stored_while_running_and_exactly_at_the_end(
    api: APIClient,
) -> None:
    uuid = start(api, "countdown", {"count": 20, "delay": 0.03})
    seen = set()
    record = wait_for(uuid, lambda r: seen.add(r.progress) or r.status in TERMINAL)
    assert (record.status, record.progress, record.target) == ("succeeded", 20, 20)
    assert seen - {None, 0, 20}, f"no intermediate progress was stored: {seen}"
    lines = [f"line {i}" for i in range(30)]
    record = wait_for(start(api, "messages", {"lines": lines}))
    assert [entry["value"] for entry in record.messages] == lines
    assert {entry["level"] for entry in record.messages} == {"info"}


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The changes of every progress write, counted around the real ``DatabaseSink.write``."""
    seen: list[dict[str, Any]] = []
    original = flusher.DatabaseSink.write

    def counting_flush(self: Any, reporter: Any, changes: Any, entries: Any, written: Any) -> bool:
        seen.append(changes)
        return original(self, reporter, changes, entries, written)

    monkeypatch.setattr(flusher.DatabaseSink, "write", counting_flush)
    return seen


def test_a_burst_of_progress_is_coalesced(api: APIClient, flushes: list[Any]) -> None:
    record = wait_for(start(api, "burst", {"count": 100_000, "messages": 25}), timeout=30)
    assert record.status == "succeeded"
    assert (record.progress, record.target) == (100_000, 100_000)
    assert record.outputs == {"count": 100_000}
    assert [entry["value"] for entry in record.messages] == [f"message {i}" for i in range(25)]
    # 100 000 progress calls and 25 messages: a handful of writes, not one each.
    assert len(flushes) < 100, len(flushes)
    assert record.seq < 100
    assert api.get(f"/tasks/{record.uuid}/").json()["progress"] == 100_000


def test_progress_is_written_at_most_once_per_interval(
    api: APIClient, flushes: list[Any], settings: Any
) -> None:
    settings.TASK_API_PROGRESS_INTERVAL = 0.1
    started = time.monotonic()
    record = wait_for(start(api, "paced", {}), timeout=30)
    elapsed = time.monotonic() - started
    assert (record.status, record.progress) == ("succeeded", 100_000)
    # About half a second of work: a write every 0.1 s, leading edge included.
    assert 2 <= len(flushes) <= elapsed / 0.1 + 3, (len(flushes), elapsed)
    values = [changes["progress"] for changes in flushes if "progress" in changes]
    assert values == sorted(values)
    assert 0 < values[-1] <= 100_000


@pytest.mark.alone
def test_a_running_task_is_cancelled_within_two_seconds(api: APIClient) -> None:
    uuid = start(api, "sleep", {"seconds": 30})
    wait_for(uuid, lambda r: r.status == "running")
    asked = time.monotonic()
    response = api.post(f"/tasks/{uuid}/cancel/")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    record = wait_for(uuid, timeout=5)
    assert time.monotonic() - asked < 2.0
    assert record.status == "cancelled"
    assert record.error == {"type": "Cancelled", "message": "The task was cancelled."}
    assert record.finished is not None
    assert api.post(f"/tasks/{uuid}/cancel/").status_code == 409


def test_a_task_cancelled_before_dispatch_never_runs(alice: Any) -> None:
    with transaction.atomic():
        record, _ = start_task(Add, {"a": 1}, owner={"owner": alice, "session_key": ""})
        cancel(record)
    time.sleep(0.3)  # the pool had time to pick it up
    record.refresh_from_db()
    assert (record.status, record.attempt, record.started, record.outputs) == (
        "cancelled",
        0,
        None,
        {},
    )


@pytest.mark.alone
def test_soft_time_limit_of_the_task_class(api: APIClient) -> None:
    started = time.monotonic()
    record = wait_for(start(api, "limited", {"seconds": 10}))
    assert time.monotonic() - started < 3
    assert record.status == "failed"
    assert record.error == {
        "type": "TaskTimeout",
        "message": "The task ran past its time limit and was stopped.",
    }
    assert record.progress is not None
    assert record.progress > 0


def test_soft_time_limit_setting(api: APIClient, settings: Any) -> None:
    settings.TASK_API_SOFT_TIME_LIMIT = 0.3
    record = wait_for(start(api, "sleep", {"seconds": 10}))
    assert record.status == "failed"
    assert record.error["type"] == "TaskTimeout"
    assert record.finished is not None


def test_a_task_is_retried_on_the_declared_exceptions(api: APIClient) -> None:
    FlakyOnce.runs = 0
    record = wait_for(start(api, "flaky-once", {}))
    assert record.status == "succeeded", record.error
    assert record.outputs == {"runs": 2}
    assert record.attempt == 2
    (entry,) = record.messages
    assert entry["level"] == "warning"
    assert entry["value"].startswith("Attempt 1 failed (ConnectionError: the service is not there")


def test_a_running_task_keeps_its_heartbeat_fresh(api: APIClient, settings: Any) -> None:
    settings.TASK_API_HEARTBEAT_INTERVAL = 0.1
    settings.TASK_API_CANCEL_CHECK_INTERVAL = 0.1
    uuid = start(api, "sleep", {"seconds": 1})
    first = wait_for(uuid, lambda r: r.status == "running").heartbeat
    assert first is not None
    later = wait_for(uuid, lambda r: r.heartbeat is not None and r.heartbeat > first, timeout=3)
    assert later.status in ("running", "succeeded")
    assert wait_for(uuid).status == "succeeded"


def test_a_task_whose_worker_died_is_failed_when_read(api: APIClient, alice: Any) -> None:
    lost = TaskRecord.objects.create(
        name="sleep",
        owner=alice,
        status="running",
        attempt=1,
        started=timezone.now() - timedelta(minutes=5),
        heartbeat=timezone.now() - timedelta(minutes=2),
    )
    alive = TaskRecord.objects.create(
        name="sleep", owner=alice, status="running", attempt=1, heartbeat=timezone.now()
    )
    body = api.get(f"/tasks/{lost.uuid}/").json()
    assert body["status"] == "failed"
    assert body["error"]["type"] == "WorkerLost"
    assert body["finished"] is not None
    assert api.get(f"/tasks/{alive.uuid}/").json()["status"] == "running"


def test_many_tasks_at_once(api: APIClient) -> None:
    uuids = [start(api, "add", {"a": i, "b": 1}) for i in range(20)]
    records = [wait_for(uuid) for uuid in uuids]
    assert [r.outputs for r in records] == [{"sum": i + 1} for i in range(20)]
    assert {r.status for r in records} == {"succeeded"}
