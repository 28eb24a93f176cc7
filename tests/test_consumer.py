"""The WebSocket consumer, through the project's ASGI application (in-memory layer)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid as uuid_lib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db.models import F

from task_api import protocol
from task_api.models import TaskRecord, TaskStatus
from task_api.store.task_json import task_json
from tests.project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2


@pytest.fixture
def alice_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.alice).header.encode())]


@pytest.fixture
def bob_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.bob).header.encode())]


async def connect(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def until_terminal(
    communicator: WebsocketCommunicator, timeout: float = 10
) -> list[dict[str, Any]]:
    frames = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        frame = await receive(
            communicator, timeout=max(deadline - asyncio.get_running_loop().time(), 0.01)
        )
        frames.append(frame)
        if frame["type"] == "snapshot" and frame["task"]["status"] in (
            "succeeded",
            "failed",
            "cancelled",
        ):
            return frames


def make_task(owner: Any, **fields: Any) -> TaskRecord:
    return TaskRecord.objects.create(name="add", inputs={"a": 1}, owner=owner, **fields)


async def test_snapshot_equals_rest_json(users: Any, alice_headers: Any) -> None:
    record = await sync_to_async(make_task)(
        users.alice, status=TaskStatus.SUCCEEDED, outputs={"sum": 2}
    )
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    frame = await receive(communicator)
    assert frame["type"] == "snapshot"
    assert frame["uuid"] == str(record.uuid)
    assert frame["task"] == task_json(await sync_to_async(TaskRecord.objects.get)(pk=record.pk))
    await communicator.disconnect()


async def test_foreign_task_is_refused_without_data(users: Any, bob_headers: Any) -> None:
    record = await sync_to_async(make_task)(users.alice)
    communicator = await connect(bob_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    frame = await receive(communicator)
    assert frame == {
        "type": "error",
        "uuid": str(record.uuid),
        "code": "not_found",
        "detail": f"No task {str(record.uuid)!r}.",
    }
    # No event of that task reaches bob afterwards.
    await get_channel_layer().group_send(
        protocol.task_group(record.uuid),
        {"type": "task.event", "frame": protocol.update_frame(record.uuid, 1, {"progress": 1}, [])},
    )
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_anonymous_visitor_cannot_watch_a_users_task(users: Any) -> None:
    record = await sync_to_async(make_task)(users.alice)
    communicator = await connect([ORIGIN])
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert (await receive(communicator))["code"] == "not_found"
    await communicator.disconnect()


async def test_foreign_origin_is_refused(alice_headers: Any) -> None:
    headers = [(b"origin", b"http://evil.example"), alice_headers[1]]
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid"),
        ("[1, 2]", "invalid"),
        ('{"type": "dance"}', "invalid"),
        ('{"type": "subscribe", "uuid": "nope"}', "invalid"),
        ('{"type": "subscribe"}', "invalid"),
        ('{"type": "subscribe", "uuid": "' + "x" * 5000 + '"}', "too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    alice_headers: Any, text: str, code: str
) -> None:
    communicator = await connect(alice_headers)
    await communicator.send_to(text_data=text)
    frame = await receive(communicator)
    assert frame["type"] == "error"
    assert frame["code"] == code
    assert frame["detail"]
    await communicator.send_json_to({"type": "ping"})
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.parametrize("text", ['{"type":"ping"}', '{"type": "ping"}', '{ "type":"ping" }'])
async def test_ping_is_answered_however_it_is_spaced(alice_headers: Any, text: str) -> None:
    # The JS client's exact text takes a path of its own; any other spelling, the parser's.
    communicator = await connect(alice_headers)
    await communicator.send_to(text_data=text)
    assert await communicator.receive_from() == '{"type":"pong"}'
    await communicator.send_to(text_data='{"type":"ping","extra":1}')
    assert await receive(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_binary_frame_is_refused(alice_headers: Any) -> None:
    communicator = await connect(alice_headers)
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await receive(communicator))["code"] == "invalid"
    await communicator.disconnect()


async def test_subscription_limit(settings: Any, users: Any, alice_headers: Any) -> None:
    settings.TASK_API_MAX_SUBSCRIPTIONS = 2
    records = [await sync_to_async(make_task)(users.alice) for _ in range(3)]
    communicator = await connect(alice_headers)
    for record in records[:2]:
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
        assert (await receive(communicator))["type"] == "snapshot"
    await communicator.send_json_to({"type": "subscribe", "uuid": str(records[2].uuid)})
    assert (await receive(communicator))["code"] == "too_many"
    await communicator.disconnect()


async def start(client_user: Any, task: str, inputs: dict[str, Any]) -> str:
    from rest_framework.test import APIClient

    def post() -> str:
        client = APIClient()
        client.force_authenticate(client_user)
        response = client.post("/tasks/", {"task": task, "inputs": inputs}, format="json")
        assert response.status_code == 201, response.content
        return str(response.json()["uuid"])

    return await sync_to_async(post)()


def apply(task: dict[str, Any] | None, frame: dict[str, Any]) -> dict[str, Any]:
    """What a client does with a frame (docs/protocol.md)."""
    if frame["type"] == "snapshot":
        return dict(frame["task"])
    assert task is not None
    assert frame.get("base", frame["seq"] - 1) == task["seq"], "gap in seq"
    task = {**task, **frame["set"], "seq": frame["seq"]}
    task["messages"] = [*task["messages"], *(entry["value"] for entry in frame["append"])]
    task["message_log"] = [*task["message_log"], *frame["append"]]
    return task


async def test_live_events_end_in_the_rest_json(
    inprocess: None, users: Any, alice_headers: Any
) -> None:
    communicator = await connect(alice_headers)
    uuid = await start(users.alice, "countdown", {"count": 5, "delay": 0.05})
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    frames = await until_terminal(communicator)
    task = None
    for frame in frames:
        task = apply(task, frame)
    assert task is not None
    stored = await sync_to_async(TaskRecord.objects.get)(uuid=uuid)
    assert task == task_json(stored)
    assert task["status"] == "succeeded"
    assert task["progress"] == 5
    assert task["outputs"] == {"counted": 5}
    assert any(frame["type"] == "update" and "progress" in frame["set"] for frame in frames)
    await communicator.disconnect()


async def test_messages_stream(inprocess: None, users: Any, alice_headers: Any) -> None:
    communicator = await connect(alice_headers)
    uuid = await start(users.alice, "messages", {"lines": ["one", "two", "three"]})
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    task = None
    for frame in await until_terminal(communicator):
        task = apply(task, frame)
    assert task is not None
    assert task["messages"] == ["one", "two", "three"]
    assert [entry["level"] for entry in task["message_log"]] == ["info"] * 3
    await communicator.disconnect()


async def test_one_connection_watches_many_tasks(
    inprocess: None, users: Any, alice_headers: Any
) -> None:
    communicator = await connect(alice_headers)
    uuids = [await start(users.alice, "countdown", {"count": 3, "delay": 0.05}) for _ in range(3)]
    for uuid in uuids:
        await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    finished: set[str] = set()
    while finished != set(uuids):
        frame = await receive(communicator)
        if frame["type"] == "snapshot" and frame["task"]["status"] == "succeeded":
            finished.add(frame["uuid"])
    await communicator.disconnect()


async def test_unsubscribe_stops_events(users: Any, alice_headers: Any) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    await receive(communicator)
    await communicator.send_json_to({"type": "unsubscribe", "uuid": str(record.uuid)})
    await asyncio.sleep(0.05)
    await get_channel_layer().group_send(
        protocol.task_group(record.uuid),
        {"type": "task.event", "frame": protocol.update_frame(record.uuid, 1, {"progress": 1}, [])},
    )
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_gap_in_events_is_repaired_with_a_snapshot(users: Any, alice_headers: Any) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert (await receive(communicator))["seq"] == 0
    # The database moved to seq 3 but events 1 and 2 never arrived.
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=7, seq=3)
    await get_channel_layer().group_send(
        protocol.task_group(record.uuid),
        {"type": "task.event", "frame": protocol.update_frame(record.uuid, 3, {"progress": 7}, [])},
    )
    frame = await receive(communicator)
    assert frame["type"] == "snapshot"
    assert frame["seq"] == 3
    assert frame["task"]["progress"] == 7
    await communicator.disconnect()


async def test_final_state_arrives_when_its_event_was_dropped(
    settings: Any, users: Any, alice_headers: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 0.2
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    await receive(communicator)
    # The task ends but its terminal event is lost (nothing is published).
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(
        status=TaskStatus.SUCCEEDED, outputs={"sum": 2}, seq=F("seq") + 1
    )
    frame = await receive(communicator, timeout=3)
    assert frame["type"] == "snapshot"
    assert frame["task"]["status"] == "succeeded"
    assert frame["task"]["outputs"] == {"sum": 2}
    await communicator.disconnect()


async def test_cancel_reaches_watchers(inprocess: None, users: Any, alice_headers: Any) -> None:
    from rest_framework.test import APIClient

    communicator = await connect(alice_headers)
    uuid = await start(users.alice, "sleep", {"seconds": 10})
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid})
    await receive(communicator)

    def cancel() -> int:
        client = APIClient()
        client.force_authenticate(users.alice)
        return int(client.post(f"/tasks/{uuid}/cancel/").status_code)

    assert await sync_to_async(cancel)() == 202
    frames = await until_terminal(communicator)
    assert frames[-1]["task"]["status"] == "cancelled"
    await communicator.disconnect()


async def test_one_query_rechecks_every_connection(
    settings: Any, users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_api.consumers.subscriptions import TASKS

    settings.TASK_API_RESYNC_INTERVAL = 0.1
    calls: list[list[str]] = []
    real = TASKS.stored_seqs

    def counted(uuids: list[str]) -> dict[str, int]:
        calls.append(uuids)
        return real(uuids)

    monkeypatch.setattr(TASKS, "stored_seqs", counted)
    records = [
        await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING) for _ in range(2)
    ]
    communicators = [await connect(alice_headers) for _ in range(5)]
    for communicator in communicators:
        for record in records:
            await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
            await receive(communicator)
    calls.clear()
    await asyncio.sleep(0.55)
    assert 2 <= len(calls) <= 7  # one query per interval, not one per connection
    assert all(sorted(uuids) == sorted(str(r.uuid) for r in records) for uuids in calls)
    for communicator in communicators:
        assert await communicator.receive_nothing(timeout=0.05)  # nothing was behind
        await communicator.disconnect()


def publish_update(record: TaskRecord, seq: int, changes: dict[str, Any]) -> Any:
    return get_channel_layer().group_send(
        protocol.task_group(record.uuid),
        {"type": "task.event", "frame": protocol.update_frame(record.uuid, seq, changes, [])},
    )


async def frames_for(communicator: WebsocketCommunicator, seconds: float) -> list[dict[str, Any]]:
    frames = []
    while not await communicator.receive_nothing(timeout=seconds):
        frames.append(await receive(communicator))
    return frames


async def test_recheck_snapshot_never_goes_behind_a_sent_frame(
    settings: Any, users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from task_api.consumers.subscriptions import TASKS

    settings.TASK_API_RESYNC_INTERVAL = 0.2
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert (await receive(communicator))["seq"] == 0

    # The re-check's read of the task is slow: it reads seq 1, then stalls.
    real = TASKS.load_many
    assert real is not None
    read = threading.Event()

    def slow_once(*args: Any) -> Any:
        task = real(*args)
        if not read.is_set():
            read.set()
            time.sleep(0.5)
        return task

    monkeypatch.setattr(TASKS, "load_many", slow_once)
    # seq 1 is stored but its event is late, so the re-check finds the task behind.
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=1, seq=1)
    assert await asyncio.to_thread(read.wait, 5)
    # While the re-check's snapshot (seq 1) is on its way, the late event arrives,
    # and seq 2 is stored and published.
    await publish_update(record, 1, {"progress": 1})
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=2, seq=2)
    await publish_update(record, 2, {"progress": 2})
    frames = await frames_for(communicator, 1.0)
    seqs = [frame["seq"] for frame in frames]
    assert seqs == sorted(set(seqs)), frames
    assert frames[-1]["seq"] == 2
    task = None
    for frame in frames:
        task = apply(task, frame)
    assert task is not None
    assert task["progress"] == 2
    await communicator.disconnect()


async def test_a_busy_connection_gets_one_merged_update(
    users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from task_api.consumers.subscriptions import TASKS

    watched = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    other = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(watched.uuid)})
    assert (await receive(communicator))["seq"] == 0

    real = TASKS.load_many
    assert real is not None
    reading = threading.Event()

    def slow(*args: Any) -> Any:
        reading.set()
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(TASKS, "load_many", slow)
    # The connection is busy with another subscribe while 20 updates arrive.
    await communicator.send_json_to({"type": "subscribe", "uuid": str(other.uuid)})
    assert await asyncio.to_thread(reading.wait, 5)
    for seq in range(1, 21):
        await get_channel_layer().group_send(
            protocol.task_group(watched.uuid),
            {
                "type": "task.event",
                "frame": protocol.update_frame(
                    watched.uuid, seq, {"progress": seq}, [{"value": str(seq)}]
                ),
            },
        )
    frames = await frames_for(communicator, 0.6)
    updates = [f for f in frames if f["uuid"] == str(watched.uuid)]
    assert updates == [
        {
            "type": "update",
            "uuid": str(watched.uuid),
            "seq": 20,
            "base": 0,
            "set": {"progress": 20},
            "append": [{"value": str(seq)} for seq in range(1, 21)],
        }
    ]
    await communicator.disconnect()


async def test_a_connection_behind_the_hubs_window_gets_a_snapshot(
    users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from task_api.consumers.hub import WINDOW
    from task_api.consumers.subscriptions import TASKS

    watched = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    other = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(watched.uuid)})
    assert (await receive(communicator))["seq"] == 0
    last = WINDOW + 10
    await sync_to_async(TaskRecord.objects.filter(pk=watched.pk).update)(seq=last, progress=last)

    real = TASKS.load_many
    assert real is not None
    reading = threading.Event()

    def slow(uuids: list[str]) -> Any:
        if str(other.uuid) in uuids:
            reading.set()
            time.sleep(0.3)
        return real(uuids)

    monkeypatch.setattr(TASKS, "load_many", slow)
    # Busy with another subscribe while more events come than the hub keeps.
    await communicator.send_json_to({"type": "subscribe", "uuid": str(other.uuid)})
    assert await asyncio.to_thread(reading.wait, 5)
    for seq in range(1, last + 1):
        await get_channel_layer().group_send(
            protocol.task_group(watched.uuid),
            {"type": "task.event", "frame": protocol.update_frame(watched.uuid, seq, {}, [])},
        )
    frames = await frames_for(communicator, 0.6)
    mine = [f for f in frames if f["uuid"] == str(watched.uuid)]
    assert [(f["type"], f["seq"]) for f in mine] == [("snapshot", last)]
    assert mine[0]["task"]["progress"] == last
    await communicator.disconnect()


async def test_the_process_joins_a_group_once_for_all_its_connections(
    users: Any, alice_headers: Any
) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicators = [await connect(alice_headers) for _ in range(5)]
    for communicator in communicators:
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
        assert (await receive(communicator))["type"] == "snapshot"
    layer = get_channel_layer()
    assert len(layer.groups[protocol.task_group(record.uuid)]) == 1
    await publish_update(record, 1, {"progress": 1})
    for communicator in communicators:
        assert (await receive(communicator))["set"] == {"progress": 1}
        await communicator.disconnect()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sends start eagerly from Python 3.12")
async def test_idle_connections_are_written_in_the_hubs_pass(
    users: Any, alice_headers: Any
) -> None:
    from task_api.consumers.hub import get_hub

    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicators = [await connect(alice_headers) for _ in range(3)]
    for communicator in communicators:
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
        assert (await receive(communicator))["type"] == "snapshot"
    hub = get_hub()
    assert hub is not None
    frame = protocol.update_frame(record.uuid, 1, {"progress": 1}, [])
    # Three listeners, under one turn: the hand-out does not let the loop run.
    await hub.hand_out(
        {"type": "task.event", "group": protocol.task_group(record.uuid), "frame": frame}
    )
    # Every frame is written before the event loop runs anything else: no task
    # per connection had to wake up.
    assert [communicator.output_queue.qsize() for communicator in communicators] == [1, 1, 1]
    for communicator in communicators:
        assert (await receive(communicator))["set"] == {"progress": 1}
        await communicator.disconnect()


def _counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The task ids of each snapshot read from now on, one list a query."""
    from task_api.consumers.subscriptions import TASKS

    reads: list[list[str]] = []
    real = TASKS.load_many
    assert real is not None

    def counted(uuids: list[str]) -> Any:
        reads.append(uuids)
        return real(uuids)

    monkeypatch.setattr(TASKS, "load_many", counted)
    return reads


async def test_simultaneous_subscribes_share_snapshot_reads(
    users: Any, alice_headers: Any, bob_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    reads = _counted_reads(monkeypatch)
    alices = [await connect(alice_headers) for _ in range(20)]
    bob = await connect(bob_headers)
    for communicator in [*alices, bob]:
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    for communicator in alices:
        frame = await receive(communicator)
        assert frame["type"] == "snapshot"
        assert frame["task"]["uuid"] == str(record.uuid)
    assert (await receive(bob))["code"] == "not_found"  # ownership still per connection
    assert 1 <= len(reads) <= 3, reads
    for communicator in [*alices, bob]:
        await communicator.disconnect()


async def test_simultaneous_subscribes_to_many_tasks_are_read_in_few_queries(
    users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    records = [await sync_to_async(make_task)(users.alice) for _ in range(30)]
    await sync_to_async(TaskRecord.objects.filter(pk=records[0].pk).update)(progress=7, seq=3)
    unknown = str(uuid_lib.uuid4())
    reads = _counted_reads(monkeypatch)
    communicators = [await connect(alice_headers) for _ in records]
    stranger = await connect(alice_headers)
    for communicator, record in zip(communicators, records, strict=True):
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    await stranger.send_json_to({"type": "subscribe", "uuid": unknown})
    for communicator, record in zip(communicators, records, strict=True):
        frame = await receive(communicator)
        assert frame["type"] == "snapshot"
        assert frame["task"]["uuid"] == str(record.uuid)  # each its own task
        if record is records[0]:
            assert (frame["seq"], frame["task"]["progress"]) == (3, 7)
    assert (await receive(stranger))["code"] == "not_found"
    assert 1 <= len(reads) <= 4, [len(read) for read in reads]
    assert sorted(uuid for read in reads for uuid in read) == sorted(
        [str(record.uuid) for record in records] + [unknown]
    )
    for communicator in [*communicators, stranger]:
        await communicator.disconnect()


class _Listener:
    """A listener of a hub's group that takes every offer at once, as an idle connection."""

    def __init__(self, number: int, last: int = 0) -> None:
        self.number, self.last = number, last
        self.frames: list[dict[str, Any]] = []

    def offer(self, group: str, window: Any) -> int:
        from task_api.consumers.hub import BEHIND

        while (offered := window.offer(self.last)) is not None:
            assert offered is not BEHIND
            frame, text = offered
            assert json.loads(text) == frame
            self.frames.append(frame)
            self.last = frame["seq"]
        return self.last


def _hub_with(listeners: list[_Listener]) -> Any:
    from task_api.consumers.hub import Hub, Window
    from task_api.consumers.subscriptions import TASKS

    hub = Hub(layer=None)
    hub.windows["g"] = Window(TASKS)
    hub.listeners["g"] = set(listeners)
    return hub


def _update(seq: int) -> dict[str, Any]:
    frame = protocol.update_frame("u", seq, {"progress": seq}, [{"value": str(seq)}])
    return {"group": "g", "frame": frame}


async def test_the_hub_lets_the_server_write_between_turns_of_listeners() -> None:
    from task_api.consumers.hub import TURN

    listeners = [_Listener(number) for number in range(2 * TURN + 50)]
    hub = _hub_with(listeners)
    passing = hub.put(_update(1))
    await asyncio.sleep(0)
    # The loop turns (and daphne writes) before the next ones.
    assert sum(bool(listener.frames) for listener in listeners) == TURN
    await passing
    assert all([f["seq"] for f in listener.frames] == [1] for listener in listeners)


async def test_an_event_during_a_pass_supersedes_the_rest_of_it() -> None:
    from task_api.consumers.hub import BEHIND, TURN

    listeners = [_Listener(number) for number in range(3 * TURN)]
    hub = _hub_with(listeners)
    passing = hub.put(_update(1))
    await asyncio.sleep(0)
    hub.put(_update(2))  # the pass has reached TURN listeners
    await passing
    seqs = sorted(tuple(f["seq"] for f in listener.frames) for listener in listeners)
    # Those reached before get the new event; the others one frame with both.
    assert seqs == [(1, 2)] * TURN + [(2,)] * (2 * TURN)
    merged = next(listener.frames[0] for listener in listeners if len(listener.frames) == 1)
    assert merged == protocol.update_frame(
        "u", 2, {"progress": 2}, [{"value": "1"}, {"value": "2"}], base=0
    )
    assert all(listener.last == 2 for listener in listeners)
    window = hub.windows["g"]
    assert window.events == []  # every listener has them: forgotten
    assert window.offer(2) is None
    assert window.offer(1) is BEHIND  # a listener that comes later reads a snapshot


async def test_a_final_state_supersedes_the_updates_waiting_before_it() -> None:
    listeners = [_Listener(number) for number in range(250)]
    hub = _hub_with(listeners)
    for seq in range(1, 6):
        passing = hub.put(_update(seq))
    final = protocol.snapshot_frame({"uuid": "u", "seq": 6, "status": "succeeded"})
    hub.put({"group": "g", "frame": final})
    assert passing is not None
    await passing
    assert all(listener.frames == [final] for listener in listeners)


def test_a_window_offers_a_snapshot_to_a_listener_behind_it() -> None:
    from task_api.consumers.hub import BEHIND, WINDOW, Window
    from task_api.consumers.subscriptions import TASKS

    window = Window(TASKS)
    for seq in range(1, WINDOW + 3):
        window.add(_update(seq)["frame"])
    assert window.offer(WINDOW + 2) is None  # has the newest
    assert window.offer(0) is BEHIND  # the events it misses are gone
    frame, _ = window.offer(WINDOW)  # type: ignore[misc]
    assert (frame["base"], frame["seq"]) == (WINDOW, WINDOW + 2)
    assert window.offer(WINDOW) is window.offer(WINDOW)  # merged and encoded once
