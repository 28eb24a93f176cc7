"""Chaos: routine faults at random while tasks are started steadily, then checks.

A private PostgreSQL cluster, a persistent Redis, a Celery worker (soft
shutdown on SIGTERM, as a deployment runs it) and daphne. For
``CHAOS_SECONDS`` (12 in the test suite; ``make chaos`` runs 180) a task
starts every 0.4 s, each followed by a raw WebSocket client, while one fault
at a time hits: PostgreSQL restarted or down for 3 s, Redis restarted, the
worker stopped with SIGTERM and started again, daphne restarted. At the end:
every task is terminal, none is lost, none failed as lost while its worker
lived (the only failures allowed are tasks stopped by the worker's shutdown),
and every watcher saw its task's final state.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from task_api.backends.celery_recovery import SHUTDOWN_MESSAGE
from tests.services import (
    REPO_ROOT,
    CeleryWorker,
    DaphneServer,
    PostgresCluster,
    RedisServer,
    ServiceError,
)
from tests.test_db_outages import _django
from tests.watching import TERMINAL, RestClient, watch

# These tests start a PostgreSQL cluster of their own, whatever the suite's
# database is: of make test's two passes, the PostgreSQL one runs them.
pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TASK_API_TEST_DB") == "sqlite",
        reason="independent of the test database; runs in the PostgreSQL pass",
    ),
    pytest.mark.alone,  # under load, with deadlines
]

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "12"))
START_EVERY = 0.4
FAULT_EVERY = (3.0, 5.0)


@dataclass(frozen=True, kw_only=True)
class Stack:
    cluster: PostgresCluster
    redis: RedisServer
    worker: CeleryWorker
    daphne: DaphneServer
    env: dict[str, str]


@pytest.fixture(scope="module")
def stack(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    redis = RedisServer(tmp_path_factory.mktemp("chaos-redis"), persistent=True)
    name = f"chaos_{os.getpid()}"
    postgres_cluster.create_database(name)
    env = {
        **os.environ,
        **postgres_cluster.settings_env(name),
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "PYTHONPATH": str(REPO_ROOT),
        "REDIS_URL": redis.url,
        "TASK_API_TEST_STALE_AFTER": "10",
        "TASK_API_TEST_SOFT_SHUTDOWN": "2",
        "REMAP_SIGTERM": "SIGQUIT",
    }
    worker = CeleryWorker(env, tmp_path_factory.mktemp("chaos-celery") / "worker.log")
    daphne = DaphneServer(env, tmp_path_factory.mktemp("chaos-daphne") / "daphne.log")
    try:
        redis.start()
        _django(env, "migrate", "--verbosity=0")
        _django(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import User;"
            "User.objects.create_user('alice', password='pw-alice', is_staff=True)",
        )
        worker.start()
        daphne.start()
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield Stack(cluster=postgres_cluster, redis=redis, worker=worker, daphne=daphne, env=env)
    finally:
        for service in (daphne, worker, redis):
            service.stop()
        postgres_cluster.start()


def _faults(stack: Stack) -> dict[str, Callable[[], None]]:
    def postgres_down() -> None:
        stack.cluster.stop()
        time.sleep(3)
        stack.cluster.start()

    def worker_sigterm() -> None:
        os.kill(stack.worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while stack.worker.running and time.monotonic() < deadline:
            time.sleep(0.1)
        stack.worker.start()

    return {
        "postgres restart": stack.cluster.restart,
        "postgres down 3 s": postgres_down,
        "redis restart": stack.redis.restart,
        "worker SIGTERM": worker_sigterm,
        "daphne restart": stack.daphne.restart,
    }


class _Watchers:
    """Raw WebSocket clients on an event loop of their own."""

    def __init__(self, daphne: DaphneServer, cookie: str) -> None:
        self.daphne = daphne
        self.cookie = cookie
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.futures: dict[str, Future[Any]] = {}

    def follow(self, uuid: str, timeout: float) -> None:
        coro = watch(self.daphne.ws_url, self.cookie, self.daphne.url, uuid, timeout=timeout)
        self.futures[uuid] = asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _start(client: RestClient, inputs: dict[str, Any], task: str) -> str | None:
    """Start a task; None if the stack refused for now (503, or daphne restarting)."""
    try:
        response = client.session.post(
            f"{client.base_url}/tasks/", json={"task": task, "inputs": inputs}, timeout=10
        )
    except requests.RequestException:
        return None
    assert response.status_code in (201, 503), response.text[:500]
    return str(response.json()["uuid"]) if response.status_code == 201 else None


def _all_tasks(client: RestClient) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    url: str | None = f"{client.base_url}/tasks/?page_size=200"
    while url:
        page = client.session.get(url, timeout=10).json()
        tasks += page["results"]
        url = page["next"]
    return tasks


@pytest.mark.services
@pytest.mark.timeout(CHAOS_SECONDS + 300)
def test_chaos(stack: Stack) -> None:
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "11")))
    client = RestClient(stack.daphne.url, "alice", "pw-alice")
    # Watchers authenticate with a session: alice (staff here) logs in through the admin.
    session = requests.Session()
    login = f"{stack.daphne.url}/admin/login/"
    session.get(login, timeout=10)
    session.post(
        login,
        data={
            "username": "alice",
            "password": "pw-alice",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login},
        timeout=10,
    )
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    watchers = _Watchers(stack.daphne, cookie)
    faults = _faults(stack)
    applied: list[str] = []
    stop = threading.Event()

    def inject() -> None:
        while not stop.wait(rng.uniform(*FAULT_EVERY)):
            name = rng.choice(sorted(faults))
            applied.append(name)
            faults[name]()

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    started: list[str] = []
    deadline = time.monotonic() + CHAOS_SECONDS
    try:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            task, inputs = (
                ("retry-safe-sleep", {"seconds": 1})
                if i % 4 == 0
                else ("countdown", {"count": 6, "delay": 0.1})
            )
            uuid = _start(client, inputs, task)
            if uuid is not None:
                started.append(uuid)
                watchers.follow(uuid, timeout=CHAOS_SECONDS + 200)
            time.sleep(START_EVERY)
    finally:
        stop.set()
        injector.join(60)
    for service in (stack.redis, stack.worker, stack.daphne):
        if not service.running:
            service.start()
    print(f"faults: {applied}; tasks started: {len(started)}")
    try:
        seen = {uuid: future.result(timeout=240) for uuid, future in watchers.futures.items()}
    finally:
        watchers.close()
    stored = {task["uuid"]: task for task in _all_tasks(client)}
    assert set(started) <= set(stored), "a started task is lost"
    unfinished = [t for t in stored.values() if t["status"] not in TERMINAL]
    assert unfinished == [], unfinished[:3]
    bad = [
        t
        for t in stored.values()
        if t["status"] != "succeeded"
        and not (t["task"] == "countdown" and t["error"]["message"] == SHUTDOWN_MESSAGE)
    ]
    assert bad == [], bad[:3]
    for uuid, (final, frames) in seen.items():
        assert final is not None, frames[-3:]
        assert final["status"] == stored[uuid]["status"], (final, stored[uuid])
        assert final["seq"] == stored[uuid]["seq"]
    assert len(started) >= CHAOS_SECONDS / START_EVERY / 3, "too few tasks got started"
