"""PostgreSQL alone, no Redis: Procrastinate workers and channels-postgres (docs/how-to/
postgres-only.md), as real processes on a private cluster that the tests restart.

A module of its own database, with daphne and a Procrastinate worker; stale tasks are
declared after 3 s, so a killed worker's task ends within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.services import (
    REPO_ROOT,
    DaphneServer,
    PostgresCluster,
    ProcrastinateWorker,
    Service,
    ServiceError,
)
from tests.test_streams_live import Watched, at, follow, read_stream, tokens
from tests.watching import TERMINAL, RestClient, watch

STALE_AFTER = 3.0

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        os.environ.get("TASK_API_TEST_DB") == "sqlite",
        reason="independent of the test database; runs in the PostgreSQL pass",
    ),
]


@dataclass(frozen=True, kw_only=True)
class Stack:
    """daphne and a worker on a database of the private cluster, no Redis."""

    cluster: PostgresCluster
    daphne: DaphneServer
    worker: ProcrastinateWorker
    client: RestClient
    cookie: str
    env: dict[str, str]
    logs: Path

    def watch(self, uuid: str, timeout: float = 30) -> Any:
        return watch(self.daphne.ws_url, self.cookie, self.daphne.url, uuid, timeout=timeout)


def _django(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    return result.stdout.decode()


LOGIN = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
user = User.objects.create_user('alice', password='pw-alice')
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


def _start(service: Service) -> None:
    try:
        service.start()
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def pg_stack(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = f"pgonly_{os.getpid()}"
    postgres_cluster.create_database(name)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "TASK_API_TEST_BACKEND")
    }
    env.update(
        postgres_cluster.settings_env(name),
        DJANGO_SETTINGS_MODULE="tests.project.settings",
        PYTHONPATH=str(REPO_ROOT),
        TASK_API_TEST_STACK="postgres-only",
        TASK_API_TEST_STALE_AFTER=str(STALE_AFTER),
    )
    _django(env, "migrate", "--verbosity=0")
    sessionid = _django(env, "shell", "-c", LOGIN).strip().splitlines()[-1]
    logs = tmp_path_factory.mktemp("pgonly-logs")
    worker = ProcrastinateWorker(env, logs / "worker.log")
    daphne = DaphneServer(env, logs / "daphne.log")
    try:
        _start(worker)
        _start(daphne)
        yield Stack(
            cluster=postgres_cluster,
            daphne=daphne,
            worker=worker,
            client=RestClient(daphne.url, "alice", "pw-alice"),
            cookie=f"sessionid={sessionid}",
            env=env,
            logs=logs,
        )
    finally:
        daphne.stop()
        worker.stop()


@pytest.fixture
def stack(pg_stack: Stack) -> Iterator[Stack]:
    """The module's stack, everything running again after each test."""
    yield pg_stack
    pg_stack.cluster.start()
    _supervise(pg_stack)


def _supervise(stack: Stack) -> None:
    """Start what stopped, as a process supervisor would."""
    for service in (stack.worker, stack.daphne):
        if not service.running:
            _start(service)


@contextlib.contextmanager
def _supervisor(stack: Stack) -> Iterator[None]:
    """Start the worker again whenever it exits, as its supervisor would (compose:
    ``restart: unless-stopped``): a worker that lost the database stops at any time once
    its running tasks stored their outcome."""
    stopping = threading.Event()

    def supervise() -> None:
        while not stopping.wait(0.2):
            if not stack.worker.running:
                with contextlib.suppress(ServiceError):
                    stack.worker.start()

    thread = threading.Thread(target=supervise, name="supervisor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join()


def _kill_worker(stack: Stack) -> None:
    """``SIGKILL`` the worker and its children, and wait until it is gone (right after the
    signal the process still runs, and starting it again would do nothing)."""
    process = stack.worker._process
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _get(client: RestClient, uuid: str) -> dict[str, Any] | None:
    try:
        response = client.get(uuid)
    except (OSError, requests.RequestException):
        return None
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait(client: RestClient, uuid: str, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task = None
    while time.monotonic() < deadline:
        task = _get(client, uuid)
        if task is not None and done(task):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {uuid} did not get there in {timeout} s: {task}")


def _final(client: RestClient, uuid: str, timeout: float = 30) -> dict[str, Any]:
    return _wait(client, uuid, lambda task: task["status"] in TERMINAL, timeout)


def test_success_with_progress_over_the_websocket(stack: Stack) -> None:
    task = stack.client.start("countdown", {"count": 10, "delay": 0.1})
    final, frames = asyncio.run(stack.watch(task["uuid"]))
    assert final is not None
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"counted": 10}
    assert final["progress"] == 10
    progress = [  # None: the target was set before the first step
        f["set"]["progress"] for f in frames if f.get("set", {}).get("progress") is not None
    ]
    assert len(progress) >= 3, frames  # pushed live, not only the final state
    assert progress == sorted(progress)


def test_failure_over_the_websocket(stack: Stack) -> None:
    task = stack.client.start("fail", {"reason": "no luck"})
    final, _ = asyncio.run(stack.watch(task["uuid"]))
    assert final is not None
    assert final["status"] == "failed", final
    assert final["error"] == {"type": "ValueError", "message": "no luck"}


def _watch_all(stack: Stack, uuid: str, watchers: int, timeout: float = 45) -> list[Any]:
    """The final state each of ``watchers`` WebSocket clients saw."""

    async def run() -> list[Any]:
        results = await asyncio.gather(*(stack.watch(uuid, timeout) for _ in range(watchers)))
        return [final for final, _ in results]

    return asyncio.run(run())


def _cancel(client: RestClient, uuid: str) -> None:
    response = client.session.post(f"{client.base_url}/tasks/{uuid}/cancel/", timeout=10)
    assert response.status_code in (200, 202), response.text


def test_cancel_a_running_task(stack: Stack) -> None:
    task = stack.client.start("sleep", {"seconds": 20})
    _wait(stack.client, task["uuid"], lambda t: (t["progress"] or 0) >= 1)
    _cancel(stack.client, task["uuid"])
    final, _ = asyncio.run(stack.watch(task["uuid"], timeout=10))
    assert final is not None
    assert final["status"] == "cancelled", final


def test_cancel_a_pending_task_withdraws_its_job(stack: Stack) -> None:
    stack.worker.stop()
    task = stack.client.start("countdown", {"count": 1})
    _cancel(stack.client, task["uuid"])
    assert _final(stack.client, task["uuid"])["status"] == "cancelled"
    jobs = _django(
        stack.env,
        "shell",
        "-c",
        "from django.db import connection; c = connection.cursor();"
        "c.execute(\"SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
        f" AND args ->> 'uuid' = '{task['uuid']}'\");"
        "print(c.fetchone()[0])",
    )
    assert jobs.strip().splitlines()[-1] == "0"  # its job; a periodic sweep job may wait


def test_postgres_restart_mid_task_every_watcher_gets_the_outcome(stack: Stack) -> None:
    """``pg_ctl restart -m fast`` cuts every connection: the queue's, the channel layer's
    and the task's; the task succeeds and each watcher sees it."""
    task = stack.client.start("countdown", {"count": 16, "delay": 0.25})
    uuid = task["uuid"]

    async def watch_and_restart() -> list[Any]:
        watchers = [asyncio.ensure_future(stack.watch(uuid, 45)) for _ in range(5)]
        while ((await asyncio.to_thread(_get, stack.client, uuid) or {}).get("progress") or 0) < 2:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(stack.cluster.restart)
        return [final for final, _ in await asyncio.gather(*watchers)]

    finals = asyncio.run(watch_and_restart())
    for final in finals:
        assert final is not None
        assert final["status"] == "succeeded", final
        assert final["outputs"] == {"counted": 16}
    stored = _final(stack.client, uuid)
    assert stored["progress"] == 16


def test_live_events_flow_again_after_a_postgres_restart(stack: Stack) -> None:
    """Right after a restart, each task's watcher gets its outcome (from the re-check while
    the web process's pool reconnects); within seconds, events are pushed live again."""
    with _supervisor(stack):
        stack.cluster.restart()
        restarted = time.monotonic()
        while True:
            task = stack.client.start("countdown", {"count": 6, "delay": 0.2})
            final, frames = asyncio.run(stack.watch(task["uuid"]))
            assert final is not None
            assert final["status"] == "succeeded", final
            if [f for f in frames if "progress" in f.get("set", {})]:
                break  # pushed live
            assert time.monotonic() - restarted < 20, "no live event 20 s after the restart"


def test_worker_killed_mid_task_ends_lost_in_bounded_time(stack: Stack) -> None:
    """A worker killed mid-task: another worker's periodic sweep fails the task as lost
    within the stale window."""
    _supervise(stack)
    task = stack.client.start("sleep", {"seconds": 30})
    _wait(stack.client, task["uuid"], lambda t: (t["progress"] or 0) >= 1)
    _kill_worker(stack)
    killed = time.monotonic()
    _start(stack.worker)  # as a supervisor would
    final = _final(stack.client, task["uuid"], timeout=STALE_AFTER + 10)
    assert time.monotonic() - killed < STALE_AFTER + 10
    assert final["status"] == "failed", final
    assert final["error"]["type"] == "WorkerLost", final
    seen, _ = asyncio.run(stack.watch(task["uuid"], timeout=10))
    assert seen is not None
    assert seen["status"] == "failed", seen


def test_watchers_of_a_killed_worker_task_get_the_final_state(stack: Stack) -> None:
    _supervise(stack)
    task = stack.client.start("sleep", {"seconds": 30})
    uuid = task["uuid"]

    async def watch_and_kill() -> list[Any]:
        watchers = [asyncio.ensure_future(stack.watch(uuid, STALE_AFTER + 20)) for _ in range(3)]
        while ((await asyncio.to_thread(_get, stack.client, uuid) or {}).get("progress") or 0) < 1:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(_kill_worker, stack)
        await asyncio.to_thread(_start, stack.worker)
        return [final for final, _ in await asyncio.gather(*watchers)]

    for final in asyncio.run(watch_and_kill()):
        assert final is not None
        assert final["status"] == "failed", final


def test_sigterm_lets_the_running_task_finish(stack: Stack) -> None:
    """A deploy stops the worker with SIGTERM: the running task finishes (no false failure),
    and a task started meanwhile waits for the next worker."""
    task = stack.client.start("countdown", {"count": 10, "delay": 0.3})
    _wait(stack.client, task["uuid"], lambda t: (t["progress"] or 0) >= 1)
    process = stack.worker._process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    waiting = stack.client.start("countdown", {"count": 2})
    assert process.wait(20) == 0
    final = _final(stack.client, task["uuid"])
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"counted": 10}
    assert _get(stack.client, waiting["uuid"])["status"] == "pending"  # type: ignore[index]
    _start(stack.worker)
    assert _final(stack.client, waiting["uuid"])["status"] == "succeeded"


def test_retries_are_the_jobs_retries(stack: Stack) -> None:
    task = stack.client.start("flaky", {"succeed_on": 3})
    final = _final(stack.client, task["uuid"])
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"attempt": 3}


def test_server_restart_under_watchers_every_watcher_gets_the_outcome(stack: Stack) -> None:
    """daphne restarts mid-task (a deploy of the web process): the watchers reconnect and
    each gets the outcome; the new process's listener takes up the events."""
    _supervise(stack)
    task = stack.client.start("countdown", {"count": 16, "delay": 0.25})
    uuid = task["uuid"]

    async def watch_and_restart() -> list[Any]:
        watchers = [asyncio.ensure_future(stack.watch(uuid, 45)) for _ in range(3)]
        while ((await asyncio.to_thread(_get, stack.client, uuid) or {}).get("progress") or 0) < 2:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(stack.daphne.stop)
        await asyncio.to_thread(_start, stack.daphne)
        return [final for final, _ in await asyncio.gather(*watchers)]

    for final in asyncio.run(watch_and_restart()):
        assert final is not None
        assert final["status"] == "succeeded", final
        assert final["outputs"] == {"counted": 16}


def test_streams_arrive_whole_in_order_and_resume_at_an_offset(stack: Stack) -> None:
    """Stream chunks over channels-postgres: a small block rides in its ``NOTIFY`` payload,
    one over its 8,000 bytes is read from its row; both arrive whole and in order, and a
    client that comes back resumes at its offset (over the WebSocket and over REST)."""
    _supervise(stack)
    small = stack.client.start("tokens", {"count": 3000, "delay": 0.005, "every": 10})["uuid"]
    big = stack.client.start("tokens", {"count": 300, "chunk_bytes": 3000, "delay": 0.02})["uuid"]
    cookie, daphne = stack.cookie, stack.daphne

    async def watch_both() -> tuple[Watched, Watched, Watched, Watched]:
        first = await follow(daphne, cookie, big, until=at(50))
        return first, *await asyncio.gather(
            follow(daphne, cookie, small),
            follow(daphne, cookie, big),
            follow(daphne, cookie, big, offset=first.position),  # the page came back
        )

    first, small_seen, big_seen, resumed = asyncio.run(watch_both())
    assert _final(stack.client, small)["status"] == "succeeded"
    assert _final(stack.client, big)["status"] == "succeeded"
    assert small_seen.chunks() == tokens(0, 3000)
    big_tokens = [token + "x" * 3000 for token in tokens(0, 300)]
    assert big_seen.chunks() == big_tokens
    assert first.chunks() + resumed.chunks() == big_tokens
    for watched in (small_seen, big_seen):
        live = [f for f in watched.frames if f["chunks"] and not f["done"]]
        assert len(live) >= 3, "chunks came in one catch-up, not pushed as written"
    assert max(len(json.dumps(f)) for f in big_seen.frames) > 8000  # by row reference
    assert read_stream(stack.client, big)["chunks"] == big_tokens
    response = stack.client.session.get(
        f"{stack.client.base_url}/tasks/{big}/streams/answer/", params={"offset": 250}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json()["chunks"][0] == big_tokens[250]


def test_a_soft_time_limit_stops_the_task_at_its_next_progress_call(stack: Stack) -> None:
    """Even inside ``except Exception``: the task reports progress, past its 0.5 s limit."""
    task = stack.client.start("limited-swallower", {"seconds": 30})
    final = _final(stack.client, task["uuid"], timeout=20)
    assert final["status"] == "failed", final
    assert final["error"] == {
        "type": "TaskTimeout",
        "message": "The task ran past its time limit and was stopped.",
    }


def test_a_batch_runs_to_its_end(stack: Stack) -> None:
    client = stack.client
    tasks = [{"task": "countdown", "inputs": {"count": 3, "delay": 0.05}} for _ in range(3)]
    tasks.append({"task": "fail", "inputs": {"reason": "one of four"}})
    started = client.session.post(f"{client.base_url}/tasks/batches/", json={"tasks": tasks})
    assert started.status_code == 201, started.text
    url = f"{client.base_url}/tasks/batches/{started.json()['uuid']}/"
    deadline = time.monotonic() + 30
    while (batch := client.session.get(url, timeout=10).json())["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    assert batch["status"] == "failed", batch
    assert batch["counts"] == {
        "pending": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 1,
        "cancelled": 0,
    }
