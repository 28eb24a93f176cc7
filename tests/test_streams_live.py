"""Streams end to end: a Celery worker writes, daphne (or uvicorn, or granian) pushes over
channels-redis, and real WebSocket clients read every chunk once, in order, through
reconnects, a Redis restart, a server restart, a cancel, and a worker killed or shut
down mid-stream.

The stack is the module's own (persistent redis-server, worker, daphne; uvicorn and granian too
for delivery, reconnects and the server restart), with a short re-check interval
(``TASK_API_RESYNC_INTERVAL``) so that lost events are repaired quickly, and the
deploy settings of ``tests/test_deploys.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from tests.services import GranianServer, Service, Stack, UvicornServer, durable_stack
from tests.watching import RestClient

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

RESYNC = 0.5
GRACE = 2.0


@pytest.fixture(scope="module")
def stack(live_db: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "TASK_API_TEST_RESYNC_INTERVAL": str(RESYNC),
        "TASK_API_TEST_SOFT_SHUTDOWN": str(GRACE),
        # Heartbeats every 5 s: a rerun takes a dead worker's task over after 10 s, and a
        # read fails it as lost after 20 s; Celery's redelivery of a killed pool's task must
        # come in between, which took more than 5 s on a loaded machine.
        "TASK_API_TEST_STALE_AFTER": "20",
        "REMAP_SIGTERM": "SIGQUIT",
    }
    with durable_stack(live_db, tmp_path_factory, "streams", env=env) as started:
        yield started


@pytest.fixture
def running(stack: Stack) -> Stack:
    """The stack with every service up (an earlier test may have stopped one)."""
    for service in (stack.redis, stack.worker, stack.daphne):
        if not service.running:
            service.start()
    return stack


@pytest.fixture(scope="module")
def others(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """uvicorn and granian on the stack's Redis and database, started when first used."""
    servers: dict[str, Service] = {}
    for kind in (UvicornServer, GranianServer):
        log = tmp_path_factory.mktemp(f"streams-{kind.name}") / "log"
        servers[kind.name] = kind(stack.daphne.env, log)
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(params=["daphne", "uvicorn", "granian"])
def server(request: pytest.FixtureRequest, running: Stack) -> Service:
    """The ASGI server the WebSocket clients use (REST goes to daphne)."""
    if request.param == "daphne":
        return running.daphne
    other = request.getfixturevalue("others")[request.param]
    if not other.running:
        other.start()
    return other


@pytest.fixture
def alice(running: Stack, users: Any) -> RestClient:
    return RestClient(running.daphne.url, "alice", "pw-alice")


@pytest.fixture
def cookie(users: Any, session_cookie: Any) -> str:
    return str(session_cookie(users.alice).header)


# -- a stream client ---------------------------------------------------------------


@dataclass
class Watched:
    """What one client received of one stream, over all its connections."""

    offset: int  # where it started
    frames: list[dict[str, Any]] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # the first frame of each

    def since_connection(self, index: int) -> list[dict[str, Any]]:
        """The frames received on connection ``index`` and later ones."""
        return self.frames[self.connections[index] :]

    @property
    def position(self) -> int:
        """The position after the last chunk received: where a reconnect reads on."""
        return self.frames[-1]["next"] if self.frames else self.offset

    @property
    def done(self) -> bool:
        return bool(self.frames) and bool(self.frames[-1]["done"])

    def chunks(self) -> list[Any]:
        """Every chunk received, checking that each frame goes on exactly where the one
        before it ended: nothing twice, no gap."""
        chunks: list[Any] = []
        offset = self.offset
        for frame in self.frames:
            assert frame["offset"] == offset, (frame["offset"], offset, len(self.connections))
            assert frame["next"] == offset + len(frame["chunks"]), frame
            assert frame["seq"] == frame["next"] + frame["done"], frame
            chunks += frame["chunks"]
            offset = frame["next"]
        return chunks


async def follow(
    server: Any,
    cookie: str,
    uuid: str,
    stream: str = "answer",
    *,
    offset: int = 0,
    timeout: float = 60,
    until: Callable[[Watched], bool] | None = None,
    drop_every: int | None = None,
) -> Watched:
    """Watch ``stream`` from ``offset`` until it is done (or ``until`` holds). When the
    socket drops, or every ``drop_every`` frames, reconnect and subscribe again from the
    position reached, as docs/protocol.md tells clients to."""
    watched = Watched(offset)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(
                f"{server.ws_url}/ws/tasks/",
                additional_headers={"Cookie": cookie, "Origin": server.url},
                open_timeout=5,
            ) as socket:
                watched.connections.append(len(watched.frames))
                subscribe = {"type": "subscribe", "uuid": uuid, "stream": stream}
                await socket.send(json.dumps({**subscribe, "offset": watched.position}))
                received = 0
                while time.monotonic() < deadline:
                    raw = await asyncio.wait_for(
                        socket.recv(), timeout=max(deadline - time.monotonic(), 0.01)
                    )
                    frame = json.loads(raw)
                    assert frame["type"] == "chunks", frame
                    watched.frames.append(frame)
                    received += 1
                    if watched.done or (until is not None and until(watched)):
                        return watched
                    if drop_every and received >= drop_every:
                        break  # the page reloads
        except (TimeoutError, OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
            await asyncio.sleep(0.2)  # dropped, or refused while a service restarts
    raise AssertionError(
        f"stream {stream} of {uuid} not done within {timeout} s: at {watched.position}, "
        f"{len(watched.connections)} connections, last frames {watched.frames[-2:]}"
    )


def read_stream(client: RestClient, uuid: str, stream: str = "answer") -> dict[str, Any]:
    """The whole stored stream over REST, once the task ended."""
    chunks: list[Any] = []
    while True:
        response = client.session.get(
            f"{client.base_url}/tasks/{uuid}/streams/{stream}/",
            params={"offset": len(chunks)},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        chunks += body["chunks"]
        if body["done"]:
            return {"chunks": chunks, "next": body["next"]}
        assert body["chunks"], body  # a finished task's stream reads on to its end


def tokens(start: int, end: int) -> list[str]:
    return [f"t{i} " for i in range(start, end)]


def at(position: int) -> Callable[[Watched], bool]:
    return lambda watched: watched.position >= position


# -- delivery ------------------------------------------------------------------------


def test_every_chunk_arrives_once_in_order_from_the_worker(
    server: Service, alice: RestClient, cookie: str
) -> None:
    uuid = alice.start("tokens", {"count": 5000, "delay": 0.005, "every": 10})["uuid"]

    async def joins_late() -> Watched:
        await follow(server, cookie, uuid, until=at(2000))
        return await follow(server, cookie, uuid)  # from 0, mid-stream

    async def everyone() -> list[Watched]:
        answers = [follow(server, cookie, uuid) for _ in range(4)]
        rows = follow(server, cookie, uuid, "rows")
        return await asyncio.gather(*answers, rows, joins_late())

    *answers, rows, late = asyncio.run(everyone())
    final = alice.wait(uuid)
    assert final["status"] == "succeeded", final
    assert final["streams"] == {"answer": 5000, "rows": 50}
    for watched in [*answers, late]:
        assert watched.chunks() == tokens(0, 5000)
        assert len(watched.connections) == 1
        live = [f for f in watched.frames if f["chunks"] and not f["done"]]
        assert len(live) >= 3, "chunks came in one catch-up, not pushed as written"
        assert len(watched.frames) < 500, "pushed chunk by chunk, not per flush"
    assert rows.chunks() == [{"row": i} for i in range(0, 5000, 100)]
    assert read_stream(alice, uuid)["chunks"] == tokens(0, 5000)


def test_a_client_that_reconnects_with_its_offset_loses_and_repeats_nothing(
    server: Service, alice: RestClient, cookie: str
) -> None:
    uuid = alice.start("tokens", {"count": 4000, "delay": 0.005, "every": 10})["uuid"]

    async def reload_midway() -> tuple[Watched, Watched, Watched]:
        first = await follow(server, cookie, uuid, until=at(500))
        assert not first.done
        # The page reloads: a new connection, from the position the page had.
        second = follow(server, cookie, uuid, offset=first.position)
        # Another page drops its socket every third frame and comes back each time.
        bumpy = follow(server, cookie, uuid, drop_every=3)
        return first, *await asyncio.gather(second, bumpy)

    first, second, bumpy = asyncio.run(reload_midway())
    assert alice.wait(uuid)["status"] == "succeeded"
    assert first.chunks() + second.chunks() == tokens(0, 4000)
    assert bumpy.chunks() == tokens(0, 4000)
    assert len(bumpy.connections) >= 3, bumpy.connections


# -- restarts --------------------------------------------------------------------------


def test_a_redis_restart_mid_stream_loses_and_repeats_nothing(
    running: Stack, alice: RestClient, cookie: str
) -> None:
    worker_pid = running.worker.pid
    uuid = alice.start("tokens", {"count": 6000, "delay": 0.01, "every": 10})["uuid"]
    daphne = running.daphne

    async def through_restart() -> list[Watched]:
        watchers = [asyncio.create_task(follow(daphne, cookie, uuid)) for _ in range(3)]
        await follow(daphne, cookie, uuid, until=at(1000))
        # Redis (the broker and the channel layer) goes away and comes back mid-stream:
        # the events published meanwhile are lost, the re-check reads them from the database.
        await asyncio.to_thread(running.redis.restart)
        assert alice.get(uuid).json()["status"] == "running", "the restart was not mid-stream"
        return list(await asyncio.gather(*watchers))

    watched = asyncio.run(through_restart())
    final = alice.wait(uuid, timeout=60)
    assert final["status"] == "succeeded", final
    for one in watched:
        assert one.chunks() == tokens(0, 6000)
    assert read_stream(alice, uuid)["chunks"] == tokens(0, 6000)
    assert running.worker.running
    assert running.worker.pid == worker_pid, "the worker was restarted"
    assert running.daphne.running, "daphne died"


def test_a_server_restart_mid_stream_resumes_at_the_offset_on_the_new_server(
    server: Service, alice: RestClient, cookie: str
) -> None:
    uuid = alice.start("tokens", {"count": 8000, "delay": 0.01, "every": 10})["uuid"]

    async def through_restart() -> list[Watched]:
        watchers = [asyncio.create_task(follow(server, cookie, uuid)) for _ in range(3)]
        await follow(server, cookie, uuid, until=at(1000))
        await asyncio.to_thread(server.restart)  # a deploy of the web server
        return list(await asyncio.gather(*watchers))

    watched = asyncio.run(through_restart())
    assert alice.wait(uuid)["status"] == "succeeded"
    for one in watched:
        assert len(one.connections) >= 2, "the connection survived the restart"
        assert one.chunks() == tokens(0, 8000)
        # On the new server: what was missed in one frame, then live chunks again.
        live = [f for f in one.since_connection(-1)[1:] if f["chunks"] and not f["done"]]
        assert len(live) >= 2, "the stream ended before the new server was up"


# -- the task ends early --------------------------------------------------------------


def test_a_stream_cancelled_mid_way_ends_done_with_what_was_written(
    running: Stack, alice: RestClient, cookie: str
) -> None:
    uuid = alice.start("tokens", {"count": 5000, "delay": 0.01, "every": 10})["uuid"]

    async def cancel_midway() -> list[Watched]:
        watchers = [asyncio.create_task(follow(running.daphne, cookie, uuid)) for _ in range(2)]
        await follow(running.daphne, cookie, uuid, until=at(500))
        response = await asyncio.to_thread(
            alice.session.post, f"{alice.base_url}/tasks/{uuid}/cancel/", timeout=10
        )
        assert response.status_code in (200, 202), response.text
        return list(await asyncio.gather(*watchers))

    watched = asyncio.run(cancel_midway())
    final = alice.wait(uuid)
    assert final["status"] == "cancelled", final
    stored = read_stream(alice, uuid)["chunks"]
    assert 500 <= len(stored) < 5000
    assert stored == tokens(0, len(stored))
    assert final["streams"]["answer"] == len(stored)
    for one in watched:
        assert one.done
        assert one.chunks() == stored


def test_a_killed_worker_fails_the_task_and_ends_its_stream_with_the_stored_chunks(
    running: Stack, alice: RestClient, cookie: str
) -> None:
    """Not retry_safe: the task fails as lost, and what was stored before stays."""
    uuid = alice.start("tokens", {"count": 5000, "delay": 0.01, "every": 10})["uuid"]
    daphne, worker = running.daphne, running.worker

    async def through_kill() -> list[Watched]:
        watchers = [asyncio.create_task(follow(daphne, cookie, uuid)) for _ in range(2)]
        await follow(daphne, cookie, uuid, until=at(500))
        for pid in worker.child_pids():
            os.kill(pid, signal.SIGKILL)
        return list(await asyncio.gather(*watchers))

    try:
        watched = asyncio.run(through_kill())
        final = alice.wait(uuid)
    finally:
        worker.restart()  # a pool whose processes were killed fails on the next reconnection
    assert final["status"] == "failed", final
    assert final["error"]["type"] == "WorkerLost", final
    stored = read_stream(alice, uuid)["chunks"]
    assert 500 <= len(stored) < 5000
    assert stored == tokens(0, len(stored))
    for one in watched:
        assert one.done
        assert one.chunks() == stored


# -- the worker goes away mid-stream ---------------------------------------------------


def _attempts(chunks: list[str], count: int) -> int:
    """Check that the stream is one run of attempt 1 cut short, then all of attempt 2:
    what was stored before the worker went away is kept once, not rewritten or
    repeated; returns how many chunks attempt 1 left."""
    kept = sum(chunk.startswith("1:") for chunk in chunks)
    assert chunks == [f"1:{i}" for i in range(kept)] + [f"2:{i}" for i in range(count)], chunks[
        kept - 2 : kept + 2
    ]
    return kept


def test_a_killed_worker_reruns_a_retry_safe_stream_after_its_stored_chunks(
    running: Stack, alice: RestClient, cookie: str
) -> None:
    count = 2000
    uuid = alice.start("retry-safe-tokens", {"count": count, "delay": 0.01, "every": 10})["uuid"]
    daphne, worker = running.daphne, running.worker

    async def through_kill() -> list[Watched]:
        watchers = [asyncio.create_task(follow(daphne, cookie, uuid)) for _ in range(2)]
        before = await follow(daphne, cookie, uuid, until=at(500))
        for pid in worker.child_pids():  # the pool processes: the task dies mid-write
            os.kill(pid, signal.SIGKILL)
        after = await follow(daphne, cookie, uuid, offset=before.position)
        return [*await asyncio.gather(*watchers), before, after]

    try:
        *watched, before, after = asyncio.run(through_kill())
        final = alice.wait(uuid, timeout=60)
    finally:
        worker.restart()  # a pool whose processes were killed fails on the next reconnection
    assert final["status"] == "succeeded", final
    assert (final["attempt"], final["outputs"]) == (2, {"attempt": 2})
    stored = read_stream(alice, uuid)["chunks"]
    kept = _attempts(stored, count)
    assert kept >= before.position
    assert final["streams"] == {"answer": kept + count}
    for one in watched:
        assert one.chunks() == stored
    assert before.chunks() + after.chunks() == stored


def test_a_deploy_mid_stream_reruns_a_retry_safe_stream_after_its_stored_chunks(
    running: Stack, alice: RestClient, cookie: str
) -> None:
    """SIGTERM: the worker waits ``GRACE`` seconds, stops the task, and the next worker
    runs it again; the watchers stay connected to daphne throughout."""
    count = 4000
    uuid = alice.start("retry-safe-tokens", {"count": count, "delay": 0.01, "every": 10})["uuid"]
    daphne, worker = running.daphne, running.worker

    def deploy() -> None:
        os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE + 20
        while worker.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not worker.running, "the shutdown did not end"
        worker.start()

    async def through_deploy() -> list[Watched]:
        watchers = [asyncio.create_task(follow(daphne, cookie, uuid)) for _ in range(2)]
        await follow(daphne, cookie, uuid, until=at(500))
        await asyncio.to_thread(deploy)
        return list(await asyncio.gather(*watchers))

    watched = asyncio.run(through_deploy())
    final = alice.wait(uuid, timeout=60)
    assert final["status"] == "succeeded", final
    assert (final["attempt"], final["outputs"]) == (2, {"attempt": 2})
    stored = read_stream(alice, uuid)["chunks"]
    kept = _attempts(stored, count)
    assert kept >= 500
    for one in watched:
        assert len(one.connections) == 1
        assert one.chunks() == stored
