"""Streams: chunks written by a task, stored in blocks with positions, read over REST and
watched over the WebSocket from any position (in-process engine, in-memory layer)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from task_api import progress, testing
from task_api.engine.retention import purge_finished
from task_api.exceptions import StreamLimitExceeded
from task_api.functions import django_tasks_available
from task_api.models import StreamBlock, TaskRecord
from task_api.reporting import Reporter
from tests.project.asgi import application
from tests.project.tasks import Tokens

TERMINAL = ("succeeded", "failed", "cancelled")
ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def start(api: APIClient, task: str, inputs: dict[str, Any]) -> str:
    response = api.post("/tasks/", {"task": task, "inputs": inputs}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["uuid"])


def wait_for(
    uuid: str, done: Callable[[TaskRecord], bool] = lambda r: r.status in TERMINAL
) -> TaskRecord:
    deadline = time.monotonic() + 20
    while not done(record := TaskRecord.objects.get(uuid=uuid)):
        assert time.monotonic() < deadline, f"task {uuid} is still {record.status}"
        time.sleep(0.01)
    return record


def poll_all(api: APIClient, uuid: str, stream: str, offset: int = 0) -> list[Any]:
    """Every chunk from ``offset`` by polling, as the JS client's fallback does."""
    chunks: list[Any] = []
    while True:
        response = api.get(f"/tasks/{uuid}/streams/{stream}/", {"offset": offset})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["offset"] == offset
        assert body["next"] == offset + len(body["chunks"])
        chunks += body["chunks"]
        offset = body["next"]
        if body["done"]:
            return chunks
        time.sleep(0.02)


def tokens(start: int, end: int) -> list[str]:
    return [f"t{i} " for i in range(start, end)]


# -- writing -------------------------------------------------------------------------


def test_writes_outside_a_worker_are_harmless() -> None:
    progress.write("nobody listens")  # no task runs: nothing happens
    task = Tokens()
    task.write("kept in memory", stream="answer")  # a task object run by hand
    assert [c for c, _ in task._reporter.streams["answer"].pending] == ["kept in memory"]


def test_limits_raise_in_the_task_and_write_nothing(settings: Any) -> None:
    settings.TASK_API_MAX_CHUNK_BYTES = 10
    settings.TASK_API_MAX_STREAM_BYTES = 25
    settings.TASK_API_MAX_STREAMS = 2
    reporter = Reporter.detached()
    reporter.write("é" * 5, "a")  # 10 bytes in UTF-8: at the limit
    with pytest.raises(StreamLimitExceeded, match="TASK_API_MAX_CHUNK_BYTES"):
        reporter.write("x" * 11, "a")
    reporter.write("y" * 10, "a")
    with pytest.raises(StreamLimitExceeded, match="TASK_API_MAX_STREAM_BYTES"):
        reporter.write("z" * 6, "a")
    reporter.write("z" * 5, "a")
    reporter.write({"n": 1}, "b")
    with pytest.raises(StreamLimitExceeded, match="TASK_API_MAX_STREAMS"):
        reporter.write("c", "c")
    with pytest.raises(StreamLimitExceeded, match="stream name"):
        reporter.write("c", "no spaces")
    with pytest.raises(StreamLimitExceeded, match="JSON value"):
        reporter.write(object(), "b")
    with pytest.raises(StreamLimitExceeded, match="JSON value"):
        reporter.write(float("nan"), "b")
    assert [c for c, _ in reporter.streams["a"].pending] == ["é" * 5, "y" * 10, "z" * 5]
    assert [c for c, _ in reporter.streams["b"].pending] == [{"n": 1}]


@pytest.mark.django_db
def test_a_run_keeps_every_chunk_in_order() -> None:
    run = testing.run(Tokens, count=250).assert_succeeded()
    assert run.streams["answer"] == tokens(0, 250)
    assert run.streams["rows"] == [{"row": 0}, {"row": 100}, {"row": 200}]
    assert run.record.streams == {"answer": 250, "rows": 3}


@pytest.mark.django_db
def test_a_task_over_a_limit_fails_with_the_error_in_its_code(settings: Any) -> None:
    settings.TASK_API_MAX_CHUNK_BYTES = 100
    run = testing.run(Tokens, count=3, chunk_bytes=200)
    run.assert_failed(StreamLimitExceeded, match="TASK_API_MAX_CHUNK_BYTES")
    assert 'self.write(f"t{i} "' in run.traceback


@pytest.mark.skipif(not django_tasks_available(), reason="needs Django 6 or django-tasks")
@pytest.mark.django_db
def test_a_task_function_streams_through_progress() -> None:
    from tests.project.functions import spell

    run = testing.run(spell, "stream").assert_succeeded()
    assert run.streams == {"letters": list("stream")}


# -- storing and reading over REST -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_chunks_are_stored_in_blocks_bounded_by_the_flush_interval(
    django_user_model: Any, settings: Any
) -> None:
    settings.TASK_API_PROGRESS_INTERVAL = 0.1
    api = api_for(django_user_model.objects.create_user("alice"))
    began = time.monotonic()
    uuid = start(api, "tokens", {"count": 20_000, "delay": 0.001, "every": 20})
    record = wait_for(uuid)
    elapsed = time.monotonic() - began
    assert record.status == "succeeded", record.error
    assert record.streams == {"answer": 20_000, "rows": 200}
    blocks = StreamBlock.objects.filter(task=record, stream="answer").order_by("start")
    # One block per flush, not per chunk: the number grows with time, not with chunks.
    assert 2 <= blocks.count() <= elapsed / 0.1 + 3, (blocks.count(), elapsed)
    ends = list(blocks.values_list("start", "end"))
    assert [start for start, _ in ends] == [0] + [end for _, end in ends[:-1]]
    assert poll_all(api, uuid, "answer") == tokens(0, 20_000)
    middle = api.get(f"/tasks/{uuid}/streams/answer/", {"offset": 12_345}).json()
    assert middle["chunks"][:2] == ["t12345 ", "t12346 "]
    assert (middle["next"], middle["done"]) == (20_000, True)
    task_json = api.get(f"/tasks/{uuid}/").json()
    assert task_json["streams"] == {"answer": 20_000, "rows": 200}


@pytest.mark.django_db(transaction=True)
def test_polling_while_the_task_writes_gets_each_chunk_once(django_user_model: Any) -> None:
    api = api_for(django_user_model.objects.create_user("alice"))
    uuid = start(api, "tokens", {"count": 3000, "delay": 0.002, "every": 10})
    assert poll_all(api, uuid, "answer") == tokens(0, 3000)
    assert poll_all(api, uuid, "answer", offset=2999) == tokens(2999, 3000)
    assert poll_all(api, uuid, "answer", offset=3000) == []


@pytest.mark.django_db(transaction=True)
def test_a_retried_task_goes_on_after_its_stored_chunks(django_user_model: Any) -> None:
    api = api_for(django_user_model.objects.create_user("alice"))
    uuid = start(api, "tokens", {"count": 300, "fail_at": 150, "delay": 0.001})
    record = wait_for(uuid)
    assert (record.status, record.attempt) == ("succeeded", 2)
    assert poll_all(api, uuid, "answer") == tokens(0, 300)


@pytest.mark.django_db(transaction=True)
def test_chunks_are_removed_with_their_task(django_user_model: Any) -> None:
    api = api_for(django_user_model.objects.create_user("alice"))
    uuid = start(api, "tokens", {"count": 10})
    wait_for(uuid)
    assert StreamBlock.objects.exists()
    assert purge_finished(-1) == (1, 0)
    assert not StreamBlock.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("answer", {"offset": "-1"}, "offset"),
        ("answer", {"offset": "1.5"}, "offset"),
        ("answer", {"offset": "x" * 5000}, "offset"),
        ("answer", {"offset": "11"}, "offset"),  # past the stream's 10 chunks
        ("answer", {"offset": str(2**40)}, "offset"),
        ("no%20such", {}, "stream"),
        ("a" * 41, {}, "stream"),
        ("%00", {}, "stream"),
    ],
)
def test_hostile_reads_answer_400_naming_the_field(
    django_user_model: Any, path: str, query: dict[str, str], field: str
) -> None:
    api = api_for(django_user_model.objects.create_user("alice"))
    uuid = start(api, "tokens", {"count": 10})
    wait_for(uuid)
    response = api.get(f"/tasks/{uuid}/streams/{path}/", query)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


@pytest.mark.django_db(transaction=True)
def test_another_user_and_a_visitor_read_nothing(django_user_model: Any) -> None:
    alice = django_user_model.objects.create_user("alice")
    uuid = start(api_for(alice), "tokens", {"count": 10})
    wait_for(uuid)
    bob = api_for(django_user_model.objects.create_user("bob"))
    assert bob.get(f"/tasks/{uuid}/streams/answer/").status_code == 404
    assert APIClient().get(f"/tasks/{uuid}/streams/answer/").status_code in (401, 403)
    # A stream the task never wrote is empty, and done once the task ended.
    empty = api_for(alice).get(f"/tasks/{uuid}/streams/other/").json()
    assert (empty["chunks"], empty["next"], empty["done"]) == ([], 0, True)


# -- the WebSocket ---------------------------------------------------------------------


async def connect(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def watch_stream(
    communicator: WebsocketCommunicator, uuid: str, stream: str, offset: int = 0
) -> list[dict[str, Any]]:
    """Subscribe to a stream from ``offset`` and collect its frames up to ``done``."""
    await communicator.send_json_to(
        {"type": "subscribe", "uuid": uuid, "stream": stream, "offset": offset}
    )
    frames = []
    while True:
        frame = await receive(communicator)
        assert frame["type"] == "chunks", frame
        frames.append(frame)
        if frame["done"]:
            return frames


def contiguous(frames: list[dict[str, Any]], offset: int) -> list[Any]:
    """The chunks of ``frames``, checking that each goes on where the last ended."""
    chunks: list[Any] = []
    for frame in frames:
        assert frame["offset"] == offset, (frame["offset"], offset)
        assert frame["next"] == offset + len(frame["chunks"])
        assert frame["seq"] == frame["next"] + frame["done"]
        chunks += frame["chunks"]
        offset = frame["next"]
    return chunks


@pytest.fixture
def alice_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.alice).header.encode())]


@pytest.fixture
def bob_headers(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.bob).header.encode())]


async def test_a_watcher_gets_every_chunk_once_in_order(users: Any, alice_headers: Any) -> None:
    api = api_for(users.alice)
    communicator = await connect(alice_headers)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 5000, "delay": 0.002, "every": 10})
    frames = await watch_stream(communicator, uuid, "answer")
    assert contiguous(frames, 0) == tokens(0, 5000)
    assert len(frames) < 500  # pushed in flushes, not chunk by chunk
    await communicator.disconnect()


async def test_a_watcher_resumes_from_its_offset(users: Any, alice_headers: Any) -> None:
    api = api_for(users.alice)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 3000, "delay": 0.002, "every": 10})
    first = await connect(alice_headers)
    await first.send_json_to({"type": "subscribe", "uuid": uuid, "stream": "answer"})
    seen = contiguous([await receive(first)], 0)
    while len(seen) < 500:
        seen += contiguous([await receive(first)], len(seen))
    await first.disconnect()  # the page reloads mid-answer
    second = await connect(alice_headers)
    frames = await watch_stream(second, uuid, "answer", offset=len(seen))
    assert seen + contiguous(frames, len(seen)) == tokens(0, 3000)
    await second.disconnect()


async def test_a_finished_stream_is_one_frame(users: Any, alice_headers: Any) -> None:
    api = api_for(users.alice)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 300})
    await sync_to_async(wait_for)(uuid)
    communicator = await connect(alice_headers)
    (frame,) = await watch_stream(communicator, uuid, "rows", offset=1)
    assert (frame["offset"], frame["chunks"], frame["done"]) == (
        1,
        [{"row": 100}, {"row": 200}],
        True,
    )
    (end,) = await watch_stream(communicator, uuid, "rows", offset=3)
    assert (end["chunks"], end["next"], end["seq"]) == ([], 3, 4)
    await communicator.disconnect()


async def test_a_slow_connection_gets_what_it_missed_in_one_frame(
    users: Any, alice_headers: Any
) -> None:
    api = api_for(users.alice)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 2000, "delay": 0.002, "every": 10})
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid, "stream": "answer"})
    await sync_to_async(wait_for)(uuid)  # the client reads nothing meanwhile
    frames = []
    while not frames or not frames[-1]["done"]:
        frames.append(await receive(communicator))
    assert contiguous(frames, 0) == tokens(0, 2000)
    assert len(frames) <= 3, [(f["offset"], f["next"]) for f in frames]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"stream": "answer", "offset": -1}, "invalid"),
        ({"stream": "answer", "offset": "3"}, "invalid"),
        ({"stream": "answer", "offset": 1.0}, "invalid"),
        ({"stream": "answer", "offset": 11}, "invalid"),
        ({"stream": "answer", "offset": 2**40}, "invalid"),
        ({"stream": "bad name"}, "invalid"),
        ({"stream": ["answer"]}, "invalid"),
        ({"stream": ""}, "invalid"),
    ],
)
async def test_hostile_subscriptions_get_an_error_frame(
    users: Any, alice_headers: Any, frame: dict[str, Any], code: str
) -> None:
    api = api_for(users.alice)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 10})
    await sync_to_async(wait_for)(uuid)
    communicator = await connect(alice_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid, **frame})
    answer = await receive(communicator)
    assert (answer["type"], answer["code"]) == ("error", code), answer
    await communicator.send_json_to({"type": "ping"})  # the connection stays open
    assert (await receive(communicator))["type"] == "pong"
    await communicator.disconnect()


async def test_another_user_watches_nothing(users: Any, bob_headers: Any) -> None:
    api = api_for(users.alice)
    uuid = await sync_to_async(start)(api, "tokens", {"count": 10})
    await sync_to_async(wait_for)(uuid)
    communicator = await connect(bob_headers)
    await communicator.send_json_to({"type": "subscribe", "uuid": uuid, "stream": "answer"})
    answer = await receive(communicator)
    assert answer == {
        "type": "error",
        "uuid": uuid,
        "stream": "answer",
        "code": "not_found",
        "detail": f"No stream '{uuid}/answer'.",
    }
    await asyncio.sleep(0.3)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


def test_declared_streams_are_in_the_catalog_and_the_typescript_types(
    django_user_model: Any, db: None
) -> None:
    from task_api.typescript import declarations

    api = api_for(django_user_model.objects.create_user("alice"))
    (entry,) = [e for e in api.get("/tasks/catalog/").json() if e["name"] == "tokens"]
    rows = {"type": "object", "additionalProperties": True}
    assert entry["streams"] == {"answer": {"type": "string"}, "rows": rows}
    typed = declarations({"tokens": Tokens})
    declared = "streams: {\n        answer: string\n        rows: Record<string, unknown>"
    assert declared in typed


STREAM_EXAMPLE = '{"uuid": "6f1c3a52-3c1e-4d8e-9a3e-1d5b4c2f7a10", "stream"'


@pytest.mark.django_db
def test_the_documented_stream_answer_is_what_rest_answers(django_user_model: Any) -> None:
    from tests.readme_snippets import REPO_ROOT, blocks

    (block,) = [
        b
        for b in blocks(path=REPO_ROOT / "docs" / "protocol.md")
        if b.lang == "json" and b.text.startswith(STREAM_EXAMPLE)
    ]
    example = json.loads(block.text)
    alice = django_user_model.objects.create_user("alice")
    record = TaskRecord.objects.create(
        uuid=example["uuid"], name="tokens", owner=alice, status="running", streams={"answer": 3}
    )
    StreamBlock.objects.create(
        task=record, stream="answer", start=0, end=3, size=13, chunks=["The", " answer", " is"]
    )
    answer = api_for(alice).get(f"/tasks/{record.uuid}/streams/answer/", {"offset": 0})
    assert answer.json() == example


@pytest.mark.django_db
def test_a_flush_repeated_after_its_commit_keeps_one_block() -> None:
    from task_api.reporting import Written
    from task_api.store import streams

    record = TaskRecord.objects.create(name="tokens", status="running", attempt=1)
    block = Written("answer", 0, ["a", "b"], [1, 1])
    streams.insert(record.pk, [block])
    streams.insert(record.pk, [block, Written("answer", 2, ["c"], [1])])  # the retry
    assert streams.read(record.pk, "answer", 0) == ["a", "b", "c"]
    assert StreamBlock.objects.filter(task=record).count() == 2
