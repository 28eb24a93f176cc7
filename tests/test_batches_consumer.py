"""Batch subscriptions of the WebSocket consumer (in-memory layer, in-process backend)."""

from __future__ import annotations

import asyncio
import json
import uuid as uuid_lib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from task_api import protocol
from task_api.batches import batch_json, start_batch
from task_api.models import TaskBatch, TaskRecord
from tests.project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2
    settings.TASK_API_BATCH_INTERVAL = 0.05


async def connect(users: Any, session_cookie: Any, who: str = "alice") -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(getattr(users, who))
    headers = [ORIGIN, (b"cookie", cookie.header.encode())]
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await communicator.receive_from(timeout=timeout))
    return frame


async def until_final(communicator: WebsocketCommunicator) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await receive(communicator)
        frames.append(frame)
        state = frame.get("data") or frame.get("set") or {}
        if state.get("status") not in ("pending", "running"):
            return frames


def countdowns(*counts: int) -> list[dict[str, Any]]:
    return [{"task": "countdown", "inputs": {"count": n, "delay": 0.01}} for n in counts]


async def test_snapshot_then_ordered_updates_to_the_final_state(
    inprocess: None, users: Any, session_cookie: Any
) -> None:
    communicator = await connect(users, session_cookie)
    try:
        batch = await sync_to_async(start_batch)(
            [*countdowns(5, 10, 15), {"task": "fail", "inputs": {}}], user=users.alice
        )
        await communicator.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        frames = await until_final(communicator)
        assert frames[0]["type"] == "batch_snapshot"
        assert len(frames[0]["data"]["tasks"]) == 4
        seqs = [frame["seq"] for frame in frames]
        assert seqs == sorted(set(seqs))
        final = frames[-1].get("data") or frames[-1]["set"]
        expected = await sync_to_async(batch_json)(batch)
        assert final == {key: value for key, value in expected.items() if key in final}
        assert final["counts"]["succeeded"] == 3
        assert final["counts"]["failed"] == 1
        assert (final["progress"], final["target"], final["status"]) == (30, 30, "failed")
        # The subscription ended with the final state.
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()


async def test_a_lost_final_update_is_resent_by_the_re_check(
    users: Any, session_cookie: Any, settings: Any
) -> None:
    settings.TASK_API_RESYNC_INTERVAL = 0.2
    batch = await sync_to_async(TaskBatch.objects.create)(owner=users.alice)
    record = await sync_to_async(TaskRecord.objects.create)(
        name="add", owner=users.alice, batch=batch, status="running", seq=2
    )
    communicator = await connect(users, session_cookie)
    try:
        await communicator.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        first = await receive(communicator)
        assert (first["seq"], first["data"]["status"]) == (3, "running")
        # The task ends, and no event reaches the channel layer at all.
        await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(
            status="succeeded", seq=3
        )
        frame = await receive(communicator, timeout=3)
        assert frame["type"] == "batch_snapshot"
        assert (frame["seq"], frame["data"]["status"]) == (4, "succeeded")
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()


async def test_stale_and_foreign_frames_are_not_forwarded(users: Any, session_cookie: Any) -> None:
    batch = await sync_to_async(TaskBatch.objects.create)(owner=users.alice)
    await sync_to_async(TaskRecord.objects.create)(
        name="add", owner=users.alice, batch=batch, status="running", seq=4
    )
    communicator = await connect(users, session_cookie)
    try:
        await communicator.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        snapshot = await receive(communicator)
        assert (snapshot["seq"], snapshot["data"]["status"]) == (5, "running")
        layer = get_channel_layer()
        group = protocol.batch_group(batch.uuid)
        state = {key: value for key, value in snapshot["data"].items() if key != "tasks"}
        stale = protocol.batch_update_frame({**state, "seq": 5, "progress": 99})
        await layer.group_send(group, {"type": "task.event", "frame": stale})
        assert await communicator.receive_nothing(timeout=0.2)
        newer = protocol.batch_update_frame({**state, "seq": 6, "progress": 1})
        await layer.group_send(group, {"type": "task.event", "frame": newer})
        assert await receive(communicator) == newer
        await communicator.send_json_to({"type": "unsubscribe", "batch": str(batch.uuid)})
        await layer.group_send(group, {"type": "task.event", "frame": {**newer, "seq": 7}})
        assert await communicator.receive_nothing(timeout=0.2)
    finally:
        await communicator.disconnect()


async def test_refusals(users: Any, session_cookie: Any, settings: Any) -> None:
    batch = await sync_to_async(TaskBatch.objects.create)(owner=users.alice)
    bob = await connect(users, session_cookie, "bob")
    try:
        await bob.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        assert await receive(bob) == {
            "type": "error",
            "batch": str(batch.uuid),
            "code": "not_found",
            "detail": f"No batch {str(batch.uuid)!r}.",
        }
        await bob.send_json_to({"type": "subscribe", "batch": "nope"})
        assert await receive(bob) == {
            "type": "error",
            "batch": None,
            "code": "invalid",
            "detail": "'nope' is not a batch uuid.",
        }
        settings.TASK_API_MAX_SUBSCRIPTIONS = 1
        own = await sync_to_async(TaskBatch.objects.create)(owner=users.bob)
        await bob.send_json_to({"type": "subscribe", "batch": str(own.uuid)})
        assert (await receive(bob))["type"] == "batch_snapshot"
        other = str(uuid_lib.uuid4())
        await bob.send_json_to({"type": "subscribe", "batch": other})
        assert (await receive(bob))["code"] == "too_many"
    finally:
        await bob.disconnect()
    staff = await connect(users, session_cookie, "staff")
    try:
        await staff.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        assert (await receive(staff))["type"] == "batch_snapshot"
    finally:
        await staff.disconnect()


async def test_updates_are_coalesced_per_connection_and_the_final_state_is_not_held(
    users: Any, session_cookie: Any, settings: Any
) -> None:
    settings.TASK_API_BATCH_INTERVAL = 0.3
    batch = await sync_to_async(TaskBatch.objects.create)(owner=users.alice)
    await sync_to_async(TaskRecord.objects.create)(
        name="add", owner=users.alice, batch=batch, status="running", seq=4
    )
    communicator = await connect(users, session_cookie)
    try:
        await communicator.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        snapshot = await receive(communicator)
        state = {key: value for key, value in snapshot["data"].items() if key != "tasks"}
        layer = get_channel_layer()
        group = protocol.batch_group(batch.uuid)

        async def publish(seq: int, **changes: Any) -> None:
            frame = protocol.batch_update_frame({**state, **changes, "seq": seq})
            await layer.group_send(group, {"type": "task.event", "frame": frame})

        loop = asyncio.get_running_loop()
        began = loop.time()
        for seq in range(6, 16):  # a burst from several worker processes
            await publish(seq, progress=seq)
        first = await receive(communicator)
        assert (first["seq"], first["set"]["progress"]) == (6, 6)
        second = await receive(communicator)
        assert (second["seq"], second["set"]["progress"]) == (15, 15)
        assert loop.time() - began >= 0.3
        assert await communicator.receive_nothing(timeout=0.4)
        await publish(16, progress=16)  # sent at once: the last one was long ago
        assert (await receive(communicator))["seq"] == 16
        await publish(17, progress=17)  # held
        await publish(18, status="succeeded", progress=18)  # final: sent at once
        final = await receive(communicator, timeout=0.2)
        assert (final["seq"], final["set"]["status"]) == (18, "succeeded")
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()
