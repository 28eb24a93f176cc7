"""Server-Sent Events: ``GET /tasks/<uuid>/events/`` and ``GET /tasks/batches/<uuid>/events/``,
through the ASGI application in process (in-process engine, in-memory layer), and from
real daphne, uvicorn and granian processes (Celery worker, Redis)."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid as uuid_lib
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from task_api.consumers.hub import get_hub
from task_api.consumers.sse import Position
from task_api.models import StreamBlock, TaskRecord, TaskStatus
from tests.project.asgi import application
from tests.services import DaphneServer, GranianServer, Service, UvicornServer, _started
from tests.sse import AsgiEvents, Event, HttpEvents, frames_of
from tests.watching import TERMINAL, RestClient, apply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def start(user: Any, task: str, inputs: dict[str, Any]) -> str:
    response = api_for(user).post("/tasks/", {"task": task, "inputs": inputs}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["uuid"])


def tokens(begin: int, end: int) -> list[str]:
    return [f"t{i} " for i in range(begin, end)]


class Watched:
    """What a client rebuilds from the events: the task and the chunks of each stream,
    checking that every frame goes on where the last one of its kind ended."""

    def __init__(self, streams: dict[str, int] | None = None) -> None:
        self.task: dict[str, Any] | None = None
        self.next = dict(streams or {})
        self.chunks: dict[str, list[Any]] = {name: [] for name in self.next}
        self.done: set[str] = set()
        self.last_id: str | None = None
        self.seqs: list[int] = []

    def take(self, events: list[Event]) -> Watched:
        for event in events:
            if not event.data:
                continue
            frame = event.frame
            assert event.event == frame["type"]
            assert event.id is not None, event
            self.last_id = event.id
            if frame["type"] == "chunks":
                name = frame["stream"]
                assert name not in self.done
                assert frame["offset"] == self.next[name], (frame["offset"], self.next[name])
                assert frame["next"] == frame["offset"] + len(frame["chunks"])
                self.chunks[name] += frame["chunks"]
                self.next[name] = frame["next"]
                if frame["done"]:
                    self.done.add(name)
            else:
                assert frame["type"] in ("snapshot", "update"), frame
                if self.seqs:
                    assert frame["seq"] > self.seqs[-1]
                self.seqs.append(frame["seq"])
                self.task = apply(self.task, frame)
                assert self.task is not None, "an update that does not apply"
            expected = f"{self.seqs[-1] if self.seqs else -1}" + "".join(
                f";{name}={at}" for name, at in self.next.items()
            )
            assert event.id == expected
        return self


async def cookie_of(session_cookie: Any, user: Any) -> dict[str, str]:
    return {"cookie": (await sync_to_async(session_cookie)(user)).header}


async def open_events(url: str, headers: dict[str, str] | None = None) -> AsgiEvents:
    events = await AsgiEvents(application, url, headers).open()
    assert events.status == 200, await events.json()
    assert events.headers["content-type"] == "text/event-stream"
    assert events.headers["cache-control"] == "no-cache"
    assert events.headers["x-accel-buffering"] == "no"
    first = await events.next()
    assert (first.retry, first.data) == (1000, "")
    return events


# -- in process ------------------------------------------------------------------------------


@pytest.mark.usefixtures("inprocess")
async def test_events_come_in_order_each_chunk_once_and_end_at_the_end(
    users: Any, session_cookie: Any
) -> None:
    inputs = {"count": 3000, "delay": 0.002, "every": 10}
    uuid = await sync_to_async(start)(users.alice, "tokens", inputs)
    alice = await cookie_of(session_cookie, users.alice)
    events = await open_events(f"/tasks/{uuid}/events/?streams=answer,rows", alice)
    seen = Watched({"answer": 0, "rows": 0}).take(await events.until_end())
    record = await sync_to_async(TaskRecord.objects.get)(uuid=uuid)
    assert seen.chunks == {
        "answer": tokens(0, 3000),
        "rows": [{"row": i} for i in range(0, 3000, 100)],
    }
    assert seen.done == {"answer", "rows"}
    assert seen.task is not None
    assert (seen.task["status"], seen.task["seq"]) == ("succeeded", record.seq)
    assert seen.last_id == f"{record.seq};answer=3000;rows=30"
    assert len(frames_of(events.parser.events)) < 600  # pushed in flushes, not chunk by chunk
    # EventSource reconnects when the response ends: nothing follows, so 204 stops it.
    again = await AsgiEvents(
        application,
        f"/tasks/{uuid}/events/?streams=answer,rows",
        {**alice, "last-event-id": seen.last_id},
    ).open()
    assert again.status == 204


@pytest.mark.usefixtures("inprocess")
async def test_a_reconnect_resumes_where_the_client_was(users: Any, session_cookie: Any) -> None:
    inputs = {"count": 3000, "delay": 0.002, "every": 10}
    uuid = await sync_to_async(start)(users.alice, "tokens", inputs)
    alice = await cookie_of(session_cookie, users.alice)
    url = f"/tasks/{uuid}/events/?streams=answer,rows"
    first = await open_events(url, alice)
    seen = Watched({"answer": 0, "rows": 0})
    while len(seen.chunks["answer"]) < 500:
        seen.take([await first.next()])
    await first.disconnect()  # the network drops mid-answer
    assert seen.task is not None
    assert seen.task["status"] == "running"
    await asyncio.sleep(0.3)  # the task moves on meanwhile
    second = await open_events(url, {**alice, "last-event-id": str(seen.last_id)})
    events = await second.until_end()
    resumed = frames_of(events)
    # The task moved on: a fresh snapshot first; the chunks go on exactly where they were.
    task_frames = [f for f in resumed if f["type"] != "chunks"]
    assert task_frames[0]["type"] == "snapshot"
    assert task_frames[0]["seq"] > seen.seqs[-1]
    seen.take(events)
    assert seen.chunks["answer"] == tokens(0, 3000)
    assert seen.chunks["rows"] == [{"row": i} for i in range(0, 3000, 100)]
    assert seen.task is not None
    assert seen.task["status"] == "succeeded"


@pytest.mark.usefixtures("inprocess")
async def test_offsets_in_the_query_and_the_last_event_id_which_wins(
    users: Any, session_cookie: Any
) -> None:
    uuid = await sync_to_async(start)(users.alice, "tokens", {"count": 300})
    record = await sync_to_async(wait_for)(uuid)
    alice = await cookie_of(session_cookie, users.alice)
    url = f"/tasks/{uuid}/events/?streams=answer:100,rows:3"
    events = await open_events(url, alice)
    seen = Watched({"answer": 100, "rows": 3}).take(await events.until_end())
    assert seen.chunks == {"answer": tokens(100, 300), "rows": []}
    assert seen.seqs == [record.seq]
    # The client had the task's last state and 250 chunks: only the rest comes.
    last_id = f"{record.seq};answer=250;rows=3"
    events = await open_events(url, {**alice, "last-event-id": last_id})
    frames = frames_of(await events.until_end())
    assert [(f["type"], f.get("offset"), f.get("done")) for f in frames] == [
        ("chunks", 250, True),
        ("chunks", 3, True),  # nothing new: its end only
    ]
    assert frames[0]["chunks"] == tokens(250, 300)
    # A stream the query names but the id does not reads from the query's offset.
    events = await open_events(
        url.replace("rows:3", "rows:1"), {**alice, "last-event-id": f"{record.seq}"}
    )
    frames = frames_of(await events.until_end())
    assert sorted((f["stream"], f["offset"], len(f["chunks"])) for f in frames) == [
        ("answer", 100, 200),
        ("rows", 1, 2),
    ]


def wait_for(uuid: str) -> TaskRecord:
    deadline = time.monotonic() + 20
    while (record := TaskRecord.objects.get(uuid=uuid)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"task {uuid} is still {record.status}"
        time.sleep(0.01)
    return record


def make_task(owner: Any, **fields: Any) -> TaskRecord:
    return TaskRecord.objects.create(name="add", inputs={"a": 1}, owner=owner, **fields)


@pytest.mark.usefixtures("inprocess")
async def test_heartbeats_while_nothing_happens_and_a_late_end(
    settings: Any, users: Any, session_cookie: Any
) -> None:
    settings.TASK_API_SSE_HEARTBEAT = 0.1
    settings.TASK_API_RESYNC_INTERVAL = 60  # the end comes without a re-check
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    alice = await cookie_of(session_cookie, users.alice)
    events = await open_events(f"/tasks/{record.uuid}/events/?streams=never", alice)
    seen = Watched({"never": 0}).take([await events.next(), await events.next()])
    assert seen.seqs == [0]
    assert seen.chunks == {"never": []}
    began = time.monotonic()
    pings = [await events.next(), await events.next(), await events.next()]
    assert [event.comment for event in pings] == ["ping"] * 3
    assert 0.25 < time.monotonic() - began < 2
    # It ends (a stream it never wrote is done too) without waiting for a re-check.

    def finish() -> None:
        from task_api.engine.lifecycle import publish_snapshot

        TaskRecord.objects.filter(pk=record.pk).update(status=TaskStatus.SUCCEEDED, seq=1)
        publish_snapshot(TaskRecord.objects.get(pk=record.pk))

    await sync_to_async(finish)()
    rest = [event for event in await events.until_end(timeout=3) if event.data]
    seen.take(rest)
    assert seen.done == {"never"}
    assert seen.task is not None
    assert seen.task["status"] == "succeeded"


@pytest.mark.usefixtures("inprocess")
async def test_a_last_event_id_one_ahead_of_a_running_tasks_row_is_kept(
    settings: Any, users: Any, session_cookie: Any
) -> None:
    from channels.layers import get_channel_layer

    from task_api import protocol

    settings.TASK_API_RESYNC_INTERVAL = 60
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING, seq=3)
    alice = await cookie_of(session_cookie, users.alice)
    url = f"/tasks/{record.uuid}/events/"
    # The client got event 4, sent while its row was being written, then reconnects:
    # no snapshot takes it back to seq 3, and the next update applies on what it has.
    events = await open_events(url, {**alice, "last-event-id": "4"})
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=4, seq=4)
    await asyncio.sleep(0.3)  # its subscription joined and read the task
    await sync_to_async(TaskRecord.objects.filter(pk=record.pk).update)(progress=5, seq=5)
    frame = protocol.update_frame(record.uuid, 5, {"progress": 5}, [])
    await get_channel_layer().group_send(
        protocol.task_group(record.uuid), {"type": "task.event", "frame": frame}
    )
    event = await events.next(timeout=3)
    assert (event.event, event.frame["seq"], event.id) == ("update", 5, "5")
    # An id further ahead is not this task's: a fresh snapshot.
    events = await open_events(url, {**alice, "last-event-id": "7"})
    event = await events.next(timeout=3)
    assert (event.event, event.frame["seq"]) == ("snapshot", 5)


@pytest.mark.usefixtures("inprocess")
async def test_another_user_and_a_visitor_get_nothing(users: Any, session_cookie: Any) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    bob = await cookie_of(session_cookie, users.bob)
    accept = {"accept": "text/event-stream"}
    for url in (f"/tasks/{record.uuid}/events/", f"/tasks/{record.uuid}/events/?streams=answer"):
        refused = await AsgiEvents(application, url, {**bob, **accept}).open()
        assert refused.status == 404
        assert refused.headers["content-type"] == "application/json"
        assert await refused.json() == {"detail": f"No task {str(record.uuid)!r}."}
        visitor = await AsgiEvents(application, url, accept).open()
        assert visitor.status in (401, 403)
        assert "detail" in await visitor.json()
    wrong = {"authorization": "Basic " + base64.b64encode(b"alice:nope").decode()}
    refused = await AsgiEvents(application, f"/tasks/{record.uuid}/events/", wrong).open()
    assert refused.status in (401, 403)
    unknown = await AsgiEvents(
        application, "/tasks/00000000-0000-4000-8000-000000000000/events/", bob
    ).open()
    assert unknown.status == 404


@pytest.mark.usefixtures("inprocess")
async def test_a_share_link_opens_the_events_of_its_task_only(
    users: Any, session_cookie: Any
) -> None:
    from task_api import links

    record, other = [
        await sync_to_async(make_task)(users.alice, status=TaskStatus.SUCCEEDED) for _ in range(2)
    ]
    token = await sync_to_async(links.share)(record)
    visitor = await open_events(f"/tasks/{record.uuid}/events/?share={token}")
    assert [event.event for event in await visitor.until_end()] == ["snapshot"]
    bob = await cookie_of(session_cookie, users.bob)
    header = await open_events(f"/tasks/{record.uuid}/events/", {**bob, "x-share-token": token})
    assert [event.event for event in await header.until_end()] == ["snapshot"]
    refused = await AsgiEvents(application, f"/tasks/{other.uuid}/events/?share={token}").open()
    assert refused.status == 404
    bad = await AsgiEvents(application, f"/tasks/{record.uuid}/events/?share=share_nope").open()
    assert (bad.status, (await bad.json())["code"]) == (401, "share_invalid")
    await sync_to_async(links.revoke)(record)
    revoked = await AsgiEvents(application, f"/tasks/{record.uuid}/events/?share={token}").open()
    assert (revoked.status, (await revoked.json())["code"]) == (403, "share_revoked")


@pytest.mark.usefixtures("inprocess")
@pytest.mark.parametrize(
    ("query", "last_event_id", "field"),
    [
        ("streams=bad%20name", "", "streams"),
        ("streams=" + "a" * 41, "", "streams"),
        ("streams=answer:-1", "", "streams"),
        ("streams=answer:1.5", "", "streams"),
        ("streams=answer:x", "", "streams"),
        ("streams=answer:" + "9" * 20, "", "streams"),
        ("streams=answer:11", "", "streams"),  # past the stream's 10 chunks
        ("streams=answer,answer", "", "streams"),
        ("streams=answer,,rows", "", "streams"),
        ("streams=%00", "", "streams"),
        ("streams=" + ",".join(f"s{i}" for i in range(17)), "", "streams"),
        ("streams=answer", "garbage", "Last-Event-ID"),
        ("streams=answer", "1;answer=11", "Last-Event-ID"),
        ("streams=answer", "1;answer=-3", "Last-Event-ID"),
        ("streams=answer", "1;bad name=3", "Last-Event-ID"),
        ("streams=answer", "1;answer=" + "9" * 13, "Last-Event-ID"),
        ("streams=answer", "1" * 5000, "Last-Event-ID"),
    ],
)
async def test_hostile_names_offsets_and_ids_answer_400_naming_the_field(
    users: Any, session_cookie: Any, query: str, last_event_id: str, field: str
) -> None:
    uuid = await sync_to_async(start)(users.alice, "tokens", {"count": 10})
    await sync_to_async(wait_for)(uuid)
    headers = await cookie_of(session_cookie, users.alice)
    if last_event_id:
        headers["last-event-id"] = last_event_id
    answer = await AsgiEvents(application, f"/tasks/{uuid}/events/?{query}", headers).open()
    assert answer.status == 400
    assert list(await answer.json()) == [field]


@pytest.mark.usefixtures("inprocess")
async def test_other_methods_are_refused_as_rest_refuses_them(
    users: Any, session_cookie: Any
) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    alice = await cookie_of(session_cookie, users.alice)
    for headers, status in ((basic("alice"), 405), (alice, 403)):  # 403: no CSRF token
        posted = AsgiEvents(application, f"/tasks/{record.uuid}/events/", headers)
        posted.communicator.scope["method"] = "POST"
        await posted.open()
        assert posted.status == status
        assert "detail" in await posted.json()
        if status == 405:
            assert posted.headers["allow"] == "GET"


@pytest.mark.usefixtures("inprocess")
async def test_atomic_requests_do_not_apply(
    users: Any, session_cookie: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connections

    for alias in connections:
        monkeypatch.setitem(connections.settings[alias], "ATOMIC_REQUESTS", True)
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.SUCCEEDED)
    alice = await cookie_of(session_cookie, users.alice)
    events = await open_events(f"/tasks/{record.uuid}/events/", alice)
    assert [event.event for event in await events.until_end()] == ["snapshot"]


def test_a_wsgi_server_is_told_to_use_asgi(users: Any) -> None:
    from django.test import Client

    record = make_task(users.alice, status=TaskStatus.RUNNING)
    client = Client()
    client.force_login(users.alice)
    response = client.get(f"/tasks/{record.uuid}/events/")
    assert response.status_code == 501
    assert "ASGI" in response.json()["detail"]
    assert client.get(f"/tasks/{uuid_lib.uuid4()}/events/").status_code == 404


@pytest.mark.usefixtures("inprocess")
async def test_a_disconnect_frees_the_listener(users: Any, session_cookie: Any) -> None:
    record = await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    alice = await cookie_of(session_cookie, users.alice)
    events = await open_events(f"/tasks/{record.uuid}/events/?streams=answer", alice)
    Watched({"answer": 0}).take([await events.next(), await events.next()])
    hub = get_hub()
    assert hub is not None
    hexed = str(record.uuid).replace("-", "")
    watched = {group: found for group, found in hub.listeners.items() if hexed in group}
    assert len(watched) == 2
    assert all(len(listeners) == 1 for listeners in watched.values())
    await events.disconnect()
    assert not any(hexed in group for group in hub.listeners)


@pytest.mark.usefixtures("inprocess")
async def test_an_open_response_holds_no_thread(users: Any, session_cookie: Any) -> None:
    import threading

    records = [
        await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING) for _ in range(3)
    ]
    alice = await cookie_of(session_cookie, users.alice)
    first = await open_events(f"/tasks/{records[0].uuid}/events/", alice)
    await first.next()
    before = threading.active_count()
    opened = []
    for _ in range(10):
        for record in records:
            events = await open_events(f"/tasks/{record.uuid}/events/?streams=answer", alice)
            assert [(await events.next()).event for _ in range(2)] == ["snapshot", "chunks"]
            opened.append(events)
    # Django keeps a thread per request for its sync code (middleware) until the
    # response ends; an event stream lets it go once it starts.
    assert threading.active_count() - before <= 2
    for events in [first, *opened]:
        await events.disconnect()


@pytest.mark.usefixtures("inprocess")
async def test_a_batch_streams_its_aggregate_to_its_end(users: Any, session_cookie: Any) -> None:
    def start_batch() -> str:
        body = {"tasks": [{"task": "tokens", "inputs": {"count": 200, "delay": 0.002}}] * 3}
        response = api_for(users.alice).post("/tasks/batches/", body, format="json")
        assert response.status_code == 201, response.content
        return str(response.json()["uuid"])

    uuid = await sync_to_async(start_batch)()
    alice = await cookie_of(session_cookie, users.alice)
    events = await open_events(f"/tasks/batches/{uuid}/events/", alice)
    got = [event for event in await events.until_end() if event.data]
    frames = [event.frame for event in got]
    assert frames[0]["type"] == "batch_snapshot"
    assert {f["type"] for f in frames[1:]} <= {"batch_update", "batch_snapshot"}
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs))
    assert [event.id for event in got] == [str(seq) for seq in seqs]
    last = frames[-1].get("data") or frames[-1]["set"]
    assert (last["status"], last["counts"]["succeeded"]) == ("succeeded", 3)
    again = AsgiEvents(
        application, f"/tasks/batches/{uuid}/events/", {**alice, "last-event-id": got[-1].id or ""}
    )
    assert (await again.open()).status == 204
    bob = await cookie_of(session_cookie, users.bob)
    assert (
        await AsgiEvents(application, f"/tasks/batches/{uuid}/events/", bob).open()
    ).status == 404
    # An earlier id: the batch moved on since, so its state comes again, then the end.
    resumed = await open_events(
        f"/tasks/batches/{uuid}/events/", {**alice, "last-event-id": got[0].id or ""}
    )
    (frame,) = frames_of(await resumed.until_end())
    assert (frame["type"], frame["seq"]) == ("batch_snapshot", seqs[-1])
    hostile = AsgiEvents(
        application, f"/tasks/batches/{uuid}/events/", {**alice, "last-event-id": "1;a=1"}
    )
    assert (await hostile.open()).status == 400


# -- daphne, uvicorn and granian, a Celery worker and Redis ---------------------------------


@pytest.fixture(scope="module", params=["daphne", "uvicorn", "granian"])
def server(
    request: pytest.FixtureRequest,
    services_env: dict[str, str],
    celery_worker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """daphne, uvicorn or granian, sending heartbeats every half second."""
    env = {**services_env, "TASK_API_TEST_SSE_HEARTBEAT": "0.5"}
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    kinds = {"daphne": DaphneServer, "uvicorn": UvicornServer, "granian": GranianServer}
    yield from _started(kinds[request.param](env, log))


def basic(username: str) -> dict[str, str]:
    from tests.services import PASSWORDS

    token = base64.b64encode(f"{username}:{PASSWORDS[username]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.services
def test_live_events_resume_and_heartbeats(server: Any, users: Any) -> None:
    rest = RestClient(server.url, "alice", "pw-alice")
    uuid = rest.start("tokens", {"count": 2000, "delay": 0.004, "every": 10})["uuid"]
    url = f"/tasks/{uuid}/events/?streams=answer,rows"
    first = HttpEvents(server.url, url, basic("alice"))
    assert (first.status, first.headers["content-type"]) == (200, "text/event-stream")
    seen = Watched({"answer": 0, "rows": 0})
    assert first.next().retry == 1000  # type: ignore[union-attr]
    while len(seen.chunks["answer"]) < 300:
        event = first.next()
        assert event is not None
        seen.take([event])
    first.close()  # the network drops mid-answer
    second = HttpEvents(server.url, url, {**basic("alice"), "Last-Event-ID": str(seen.last_id)})
    assert second.status == 200
    seen.take(second.until_end())
    assert seen.chunks["answer"] == tokens(0, 2000)
    assert seen.chunks["rows"] == [{"row": i} for i in range(0, 2000, 100)]
    assert seen.task is not None
    assert seen.task == rest.get(uuid).json()
    assert seen.done == {"answer", "rows"}
    ended = HttpEvents(server.url, url, {**basic("alice"), "Last-Event-ID": str(seen.last_id)})
    assert ended.status == 204
    # Heartbeats pass through the server as they are written.
    pending = rest.start("wait", {"seconds": 3})["uuid"]
    idle = HttpEvents(server.url, f"/tasks/{pending}/events/", basic("alice"))
    assert idle.status == 200, idle.response.read()
    got = [idle.next(5)]  # retry, snapshot, updates each second, and pings in between
    while (event := got[-1]) is not None and event.comment != "ping" and len(got) < 10:
        got.append(idle.next(5))
    assert event is not None
    assert event.comment == "ping", got
    idle.close()
    refused = HttpEvents(server.url, url, basic("bob"))
    assert refused.status == 404
    assert HttpEvents(server.url, url).status in (401, 403)


@pytest.mark.services
def test_live_a_slow_reader_gets_every_chunk_once(server: Any, users: Any) -> None:
    rest = RestClient(server.url, "alice", "pw-alice")
    inputs = {"count": 1500, "chunk_bytes": 10000, "delay": 0.02, "every": 10}
    uuid = rest.start("tokens", inputs)["uuid"]
    stream = HttpEvents(server.url, f"/tasks/{uuid}/events/?streams=answer", basic("alice"))
    rest.wait(uuid)  # reads nothing meanwhile: 15 MB wait in the server and the sockets
    seen = Watched({"answer": 0}).take(stream.until_end())
    expected = [f"t{i} " + "x" * 10000 for i in range(1500)]
    assert seen.chunks["answer"] == expected
    frames = [e for e in stream.parser.events if e.event == "chunks"]
    flushes = StreamBlock.objects.filter(task__uuid=uuid, stream="answer").count()
    if server.name == "uvicorn":  # it waits for the socket: what waits meanwhile merges
        assert len(frames) < flushes * 2 // 3, (len(frames), flushes)


@pytest.mark.services
def test_live_a_restarted_server_resumes_the_stream(
    celery_worker: Any, services_env: dict[str, str], tmp_path: Any, users: Any
) -> None:
    server = UvicornServer(services_env, tmp_path / "uvicorn.log")
    server.start()
    try:
        rest = RestClient(server.url, "alice", "pw-alice")
        uuid = rest.start("tokens", {"count": 3000, "delay": 0.004, "every": 10})["uuid"]
        url = f"/tasks/{uuid}/events/?streams=answer"
        first = HttpEvents(server.url, url, basic("alice"))
        seen = Watched({"answer": 0})
        while len(seen.chunks["answer"]) < 200:
            event = first.next()
            assert event is not None
            seen.take([event])
        began = time.monotonic()
        server.restart()  # a deploy: the open response is cut within the graceful timeout
        assert time.monotonic() - began < 10
        first.close()
        second = HttpEvents(server.url, url, {**basic("alice"), "Last-Event-ID": str(seen.last_id)})
        seen.take(second.until_end())
        assert seen.chunks["answer"] == tokens(0, 3000)
        assert seen.task is not None
        assert seen.task["status"] == "succeeded"
    finally:
        server.stop()


@pytest.mark.services
def test_live_disconnect_releases_the_subscription(
    server: Any, users: Any, services_env: dict[str, str]
) -> None:
    import redis

    from task_api import protocol
    from tests.project.settings import TEST_LAYER

    if TEST_LAYER != "core":
        pytest.skip("reads the core layer's groups in Redis")
    left, kept = (make_task(users.alice, status=TaskStatus.RUNNING) for _ in range(2))
    client = redis.Redis.from_url(services_env["REDIS_URL"])

    def members(record: TaskRecord) -> int:
        return int(client.zcard(f"asgi:group:{protocol.task_group(record.uuid)}"))

    streams = [
        HttpEvents(server.url, f"/tasks/{r.uuid}/events/", basic("alice")) for r in (left, kept)
    ]
    for stream in streams:
        assert [stream.next(5).event for _ in range(2)] == ["message", "snapshot"]  # type: ignore[union-attr]
    assert (members(left), members(kept)) == (1, 1)
    streams[0].close()  # the client goes: the server leaves the group at its next re-check
    deadline = time.monotonic() + 15
    while members(left) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (members(left), members(kept)) == (0, 1)
    streams[1].close()


@pytest.fixture
def alice_cookie(users: Any, session_cookie: Any) -> Any:
    return session_cookie(users.alice)


@pytest.mark.browser
@pytest.mark.services
def test_readme_sse_snippet_in_chromium(
    browser: Any, celery_worker: Any, daphne_server: Any, alice_cookie: Any
) -> None:
    """A logged-in page's plain EventSource: the session cookie is its authentication."""
    from tests.readme_snippets import snippet
    from tests.test_readme import _LOG_RECORDER, _alice_context

    rest = RestClient(daphne_server.url, "alice", "pw-alice")
    uuid = rest.start("tokens", {"count": 600, "delay": 0.002, "every": 10})["uuid"]
    html = (
        '<pre id="output"></pre>\n'
        f"<script>\nconst uuid = '{uuid}'\nconst output = document.getElementById('output')\n"
        f"{snippet('sse-js')}</script>\n"
    )
    context = _alice_context(browser, daphne_server, alice_cookie, html)
    try:
        page = context.new_page()
        page.add_init_script(_LOG_RECORDER)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/readme-page/")
        page.wait_for_function("readmeLogs.length > 0", timeout=30_000)
        assert page.evaluate("readmeLogs") == [["ended", "succeeded"]]
        assert page.inner_text("#output") == "".join(tokens(0, 600))
        assert errors == []
    finally:
        context.close()


def test_protocol_example_is_an_event_stream() -> None:
    """docs/protocol.md's example answer: the retry line, then events whose ``id`` is the
    position after each frame, and a heartbeat."""
    import json

    from tests.readme_snippets import blocks
    from tests.sse import Parser

    (block,) = [
        b
        for b in blocks()
        if (b.where, b.lang) == ("docs/protocol.md", "text") and b.text.startswith("retry:")
    ]
    events = Parser().feed(block.text.encode())
    assert events[0].retry == 1000
    assert events[-1].comment == "ping"
    seq, streams = -1, {"answer": 0, "rows": 3}  # the query: ?streams=answer,rows:3
    for event in events[1:-1]:
        frame = json.loads(event.data.replace("{…task JSON…}", "{}"))
        assert frame["type"] == event.event
        if frame["type"] == "chunks":
            assert frame["offset"] == streams[frame["stream"]]
            assert frame["next"] == frame["offset"] + len(frame["chunks"])
            streams[frame["stream"]] = frame["next"]
        else:
            assert frame["seq"] > seq
            seq = frame["seq"]
        assert event.id == str(Position(seq, dict(streams)))
