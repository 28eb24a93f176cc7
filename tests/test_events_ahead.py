"""Events ahead of their row: a worker publishes a progress event while its write is under
way (docs/explanations/architecture.md, "Events ahead of the row"). A watcher gets the
event before the row holds it, never gets an older snapshot after it, and ends equal to
``GET /tasks/<uuid>/``; whoever else moves a running task skips past such an event."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from task_api import protocol
from task_api.engine import flusher, lifecycle
from task_api.models import TaskRecord, TaskStatus
from task_api.store.task_json import task_json
from tests.test_consumer import (
    ORIGIN,
    apply,
    connect,
    frames_for,
    make_task,
    publish_update,
    receive,
    start,
    until_terminal,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2


@pytest.fixture
def alice_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.alice).header.encode())]


def replay(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The task a client ends with, checking that ``seq`` only grows."""
    task = None
    for frame in frames:
        assert task is None or frame["seq"] > task["seq"], frames
        task = apply(task, frame)
    assert task is not None
    return task


def eventually(check: Callable[[], bool], timeout: float = 3) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def stored(uuid: str) -> TaskRecord:
    return await sync_to_async(TaskRecord.objects.get)(uuid=uuid)


async def test_a_progress_event_goes_out_while_its_row_is_written(
    inprocess: None, users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write of the first progress takes long (a slow commit): its event is already out.
    release, held = threading.Event(), []
    real = flusher.store_progress

    def slow_write(pk: int, attempt: int, fields: dict[str, Any]) -> bool:
        if not held and fields.get("progress"):
            held.append(fields["seq"])
            release.wait(5)
        return real(pk, attempt, fields)

    monkeypatch.setattr(flusher, "store_progress", slow_write)
    communicator = await connect(alice_headers)
    uuid = await start(users.alice, "countdown", {"count": 2, "delay": 0.3})
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    frames: list[dict[str, Any]] = []
    try:
        while not frames or not frames[-1].get("set", {}).get("progress"):
            frames.append(await receive(communicator, timeout=3))
        assert await asyncio.to_thread(eventually, lambda: bool(held))  # the write waits
        assert frames[-1]["seq"] == held[0]
        assert (await stored(uuid)).seq == held[0] - 1  # the row is one behind the event
    finally:
        release.set()
    frames += await until_terminal(communicator)
    task = replay(frames)
    assert task == task_json(await stored(uuid))
    assert (task["status"], task["progress"], task["target"]) == ("succeeded", 2, 2)
    await communicator.disconnect()


async def test_a_write_lost_after_its_event_is_stored_whole_by_the_next_flush(
    inprocess: None, users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write of the first progress fails after its event went out (the connection broke).
    writes: list[dict[str, Any]] = []
    real = flusher.store_progress

    def lost_once(pk: int, attempt: int, fields: dict[str, Any]) -> bool:
        if writes or fields.get("progress"):
            writes.append(dict(fields))
        if len(writes) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(pk, attempt, fields)

    monkeypatch.setattr(flusher, "store_progress", lost_once)
    monkeypatch.setattr(flusher, "RETRY_DELAY", 0.2)
    communicator = await connect(alice_headers)
    uuid = await start(users.alice, "countdown", {"count": 3, "delay": 0.4})
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    frames = await until_terminal(communicator)
    lost, retried = writes[0], writes[1]
    # Its event reached the watcher; the next write has a new seq and the whole state,
    # target included though only the progress changed since.
    assert any(f["seq"] == lost["seq"] and f["type"] == "update" for f in frames), frames
    assert retried["seq"] == lost["seq"] + 1
    assert {"progress", "target", "messages"} <= set(retried)
    assert retried["target"] == 3
    assert retried["progress"] >= lost["progress"]
    task = replay(frames)
    assert task == task_json(await stored(uuid))
    assert (task["status"], task["progress"], task["target"]) == ("succeeded", 3, 3)
    await communicator.disconnect()


async def test_a_gap_repaired_by_a_snapshot_older_than_the_event_applies_the_event(
    settings: Any, users: Any, alice_headers: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 60  # no re-check: the event itself must do
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert (await receive(communicator))["seq"] == 0
    # Event 1 was lost; event 2 arrives while its own row is still being written.
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=1, seq=1)
    await publish_update(record, 2, {"progress": 2})
    frames = await frames_for(communicator, 0.5)
    assert [(f["type"], f["seq"]) for f in frames] == [("snapshot", 1), ("update", 2)]
    assert replay(frames)["progress"] == 2
    # Asking again for a snapshot sends nothing older than what the connection has.
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_failing_a_running_task_skips_the_event_its_worker_may_have_sent(
    settings: Any, users: Any, alice_headers: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 60
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    first = await receive(communicator)
    # The worker published seq 1 and died before its write.
    await publish_update(record, 1, {"progress": 5})
    frames = [first, await receive(communicator)]
    failed = await sync_to_async(lifecycle.fail)(
        record, "WorkerLost", "lost", from_statuses=(TaskStatus.RUNNING,)
    )
    assert failed
    assert record.seq == 1 + protocol.AHEAD
    frames += await until_terminal(communicator, timeout=3)
    task = replay(frames)
    assert task["status"] == "failed"
    assert task == task_json(await stored(str(record.uuid)))
    await communicator.disconnect()


async def test_taking_over_a_running_task_skips_the_event_its_worker_may_have_sent(
    settings: Any, users: Any, alice_headers: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 60
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING, attempt=1)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    first = await receive(communicator)
    await publish_update(record, 1, {"progress": 5})  # its silent worker's last event
    frames = [first, await receive(communicator)]
    assert await sync_to_async(lifecycle.start)(record, allow_takeover=True)
    frames += await frames_for(communicator, 0.5)
    task = replay(frames)
    assert (task["attempt"], task["progress"]) == (2, None)
    assert task == task_json(await stored(str(record.uuid)))
    await communicator.disconnect()


async def test_a_retry_goes_on_above_the_event_its_worker_sent(
    settings: Any, users: Any, alice_headers: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 60
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING, attempt=1)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    first = await receive(communicator)
    # Event 1 went out, its write failed; the task then raised and is retried.
    await publish_update(record, 1, {"progress": 5})
    frames = [first, await receive(communicator)]
    record.seq = 1  # what the runner passes: the last seq its worker published
    message = {"value": "retrying", "level": "warning", "time": "t"}
    assert await sync_to_async(lifecycle.requeue)(record, message)
    frames += await frames_for(communicator, 0.5)
    task = replay(frames)
    assert (task["status"], task["seq"]) == ("pending", 2)
    assert task == task_json(await stored(str(record.uuid)))
    await communicator.disconnect()
