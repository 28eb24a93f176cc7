"""task_api/protocol.py is the protocol: docs/protocol.md and the TypeScript types agree with it,
a project adds a frame type with a handler, and one re-check serves every kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from task_api import protocol
from task_api.consumers import TaskConsumer
from task_api.models import TaskBatch, TaskRecord, TaskStatus
from task_api.typescript import frame_declarations
from tests.test_consumer import apply, connect, make_task, receive

REPO_ROOT = Path(__file__).resolve().parent.parent
FRAMES = (*protocol.CLIENT_FRAMES, *protocol.SERVER_FRAMES)


def documented_fields() -> dict[str, set[str]]:
    """Frame type -> the fields of every frame of that type in docs/protocol.md's tables."""
    fields: dict[str, set[str]] = {}
    for cell in re.findall(
        r"^\| `(\{\"type\": .*?\})` \|", (REPO_ROOT / "docs" / "protocol.md").read_text(), re.M
    ):
        kind = re.match(r'\{"type": "(\w+)"', cell)
        assert kind, cell
        fields.setdefault(kind.group(1), set()).update(re.findall(r'"(\w+)":', cell))
    return fields


def test_every_frame_and_field_is_in_the_docs_tables() -> None:
    documented = documented_fields()
    declared = {
        frame.__annotations__["type"].__args__[0]: set(frame.__annotations__) for frame in FRAMES
    }
    assert documented == declared


def test_the_typescript_types_are_generated_from_protocol_py() -> None:
    committed = (REPO_ROOT / "static_src" / "types" / "protocol.d.ts").read_text()
    assert committed == frame_declarations(), (
        "run: manage.py task_api_types --protocol -o static_src/types/protocol.d.ts"
    )
    for frame in FRAMES:
        body = re.search(rf"export interface {frame.__name__} \{{\n(.*?)\n\}}", committed, re.S)
        assert body, frame.__name__
        assert re.findall(r"^  (\w+)\??:", body.group(1), re.M) == list(frame.__annotations__)


class EchoConsumer(TaskConsumer):
    """A project's consumer with one more client frame."""

    async def receive_echo(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "echo", "text": frame.get("text")})


@pytest.mark.django_db(transaction=True)
async def test_a_subclass_adds_a_frame_type_with_a_handler(alice_headers: Any) -> None:
    application = URLRouter([path("ws/tasks/", EchoConsumer.as_asgi())])
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=alice_headers)
    assert (await communicator.connect())[0]
    try:
        await communicator.send_json_to({"type": "echo", "text": "hi"})
        assert await receive(communicator) == {"type": "echo", "text": "hi"}
        await communicator.send_json_to({"type": "ping"})
        assert await receive(communicator) == {"type": "pong"}
        await communicator.send_json_to({"type": "dance"})
        refused = await receive(communicator)
        assert refused["code"] == "invalid"
        assert "echo" in refused["detail"]
    finally:
        await communicator.disconnect()


@pytest.fixture
def alice_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [
        (b"origin", b"http://testserver"),
        (b"cookie", session_cookie(users.alice).header.encode()),
    ]


@pytest.mark.django_db(transaction=True)
async def test_one_re_check_repairs_a_dropped_task_event_and_a_dropped_batch_event(
    settings: Any, users: Any, alice_headers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_api.consumers.subscriptions import BATCHES, TASKS

    settings.TASK_API_RESYNC_INTERVAL = 0.2
    queries: list[str] = []
    for kind in (TASKS, BATCHES):

        def counted(uuids: list[str], real: Any = kind.stored_seqs, name: str = kind.name) -> Any:
            queries.append(name)
            return real(uuids)

        monkeypatch.setattr(kind, "stored_seqs", counted)
    task = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    batch = await sync_to_async(TaskBatch.objects.create)(owner=users.alice)
    child = await sync_to_async(TaskRecord.objects.create)(
        name="add", owner=users.alice, batch=batch, status="running", seq=2
    )
    communicator = await connect(alice_headers)
    try:
        await communicator.send_json_to({"type": "subscribe", "uuid": str(task.uuid)})
        state = apply(None, await receive(communicator))
        await communicator.send_json_to({"type": "subscribe", "batch": str(batch.uuid)})
        assert (await receive(communicator))["seq"] == 3
        # Both change in the database, and neither event reaches the channel layer.
        await sync_to_async(TaskRecord.objects.filter(pk=task.pk).update)(progress=4, seq=1)
        await sync_to_async(TaskRecord.objects.filter(pk=child.pk).update)(
            status="succeeded", seq=3
        )
        repaired = {}
        while len(repaired) < 2:
            frame = await receive(communicator, timeout=3)
            repaired[frame["type"]] = frame
        assert apply(state, repaired["snapshot"])["progress"] == 4
        batch_snapshot = repaired["batch_snapshot"]
        assert (batch_snapshot["seq"], batch_snapshot["data"]["status"]) == (4, "succeeded")
        assert await communicator.receive_nothing(timeout=0.3)
    finally:
        await communicator.disconnect()
    # One loop read both kinds, one query each, in the same checks.
    assert "batch" in queries
    assert all(queries[i - 1] == "task" for i, name in enumerate(queries) if name == "batch")
