"""Redis (broker and channel layer at once) restarted under load, with real processes.

The stack here has its own persistent redis-server (append-only file, as a
broker should run), a Celery worker and daphne, on the test database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from task_api.models import TaskRecord, TaskStatus
from tests.services import Stack, durable_stack
from tests.watching import RestClient, watch

TASKS = 50
WATCHERS_PER_TASK = 2


@pytest.fixture(scope="module")
def stack(live_db: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with durable_stack(live_db, tmp_path_factory, "durable") as started:
        yield started


@pytest.fixture
def running(stack: Stack) -> Iterator[Stack]:
    """The stack, checked alive after the test: nothing was restarted but Redis."""
    for service in (stack.redis, stack.worker, stack.daphne):
        if not service.running:
            service.start()
    worker_pid = stack.worker.pid
    yield stack
    assert stack.worker.running, "the worker died"
    assert stack.worker.pid == worker_pid, "the worker was restarted"
    assert stack.daphne.running, "daphne died"


def _start(client: RestClient, task: str, inputs: dict[str, Any], timeout: float = 30) -> str:
    """Start a task, retrying while the broker is still coming back (503)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.session.post(
            f"{client.base_url}/tasks/", json={"task": task, "inputs": inputs}, timeout=10
        )
        if response.status_code == 201:
            return str(response.json()["uuid"])
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_worker_survives_a_broker_restart_after_pool_processes_died(
    running: Stack, users: Any
) -> None:
    """Celery's prefork pool used to crash here ('file descriptor is None')."""
    alice = RestClient(running.daphne.url, "alice", "pw-alice")
    before = running.worker.child_pids()
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = running.worker.child_pids()
        if len(now) == len(before) and not set(now) & set(before):
            break
        time.sleep(0.1)
    running.redis.restart()
    running.worker.wait_ready()
    uuid = _start(alice, "add", {"a": 1})
    assert alice.wait(uuid)["status"] == "succeeded"
    assert running.worker.running


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_redis_restarted_with_tasks_in_flight_and_clients_watching(
    running: Stack, users: Any, session_cookie: Any
) -> None:
    alice = RestClient(running.daphne.url, "alice", "pw-alice")
    cookie = session_cookie(users.alice).header
    uuids = [_start(alice, "countdown", {"count": 5, "delay": 0.1}) for _ in range(TASKS)]

    async def watch_all() -> list[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
        watchers = [
            watch(running.daphne.ws_url, cookie, running.daphne.url, uuid, timeout=120)
            for uuid in uuids
            for _ in range(WATCHERS_PER_TASK)
        ]

        async def restart_redis() -> None:
            await asyncio.sleep(1.0)  # some tasks done, some running, most queued
            await asyncio.to_thread(running.redis.restart)

        results = await asyncio.gather(*watchers, restart_redis())
        return results[:-1]  # type: ignore[return-value]

    seen = asyncio.run(watch_all())
    records = {str(r.uuid): r for r in TaskRecord.objects.filter(uuid__in=uuids)}
    assert all(r.status == TaskStatus.SUCCEEDED for r in records.values()), sorted(
        r.status for r in records.values()
    )
    assert all(r.outputs == {"counted": 5} for r in records.values())
    for (final, frames), uuid in zip(seen, [u for u in uuids for _ in range(2)], strict=True):
        assert final is not None, frames[-3:]
        assert final["status"] == "succeeded", final
        assert final["uuid"] == uuid
        assert final["seq"] == records[uuid].seq
    # New tasks start and run without restarting anything, and their events are
    # live again: the layer re-subscribed daphne (pub/sub) or it re-joined (groups).
    assert alice.wait(_start(alice, "add", {"a": 2}))["status"] == "succeeded"
    uuid = _start(alice, "countdown", {"count": 10, "delay": 0.1})
    final, frames = asyncio.run(
        watch(running.daphne.ws_url, cookie, running.daphne.url, uuid, timeout=30)
    )
    assert final is not None
    assert final["status"] == "succeeded"
    assert any(frame["type"] == "update" for frame in frames), frames
