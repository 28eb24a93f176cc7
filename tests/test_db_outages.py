"""PostgreSQL restarts and outages while tasks run, on the Celery and in-process backends.

Everything runs against a private PostgreSQL cluster that the tests stop and
restart (``pg_ctl``): a Celery worker, and daphne (which also hosts the
in-process backend's threads), each with its own database and Redis. Stale
tasks are declared after 3 s here, so an outage of 5 s outlasts it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.services import (
    REPO_ROOT,
    CeleryWorker,
    DaphneServer,
    PostgresCluster,
    RedisServer,
    ServiceError,
)
from tests.watching import TERMINAL, RestClient

STALE_AFTER = 3.0
OUTAGE = 5.0

# These tests start a PostgreSQL cluster of their own, whatever the suite's
# database is: of make test's two passes, the PostgreSQL one runs them.
pytestmark = pytest.mark.skipif(
    os.environ.get("TASK_API_TEST_DB") == "sqlite",
    reason="independent of the test database; runs in the PostgreSQL pass",
)


@dataclass(frozen=True, kw_only=True)
class Stack:
    """A web server (and maybe a worker) on a database of the private cluster."""

    cluster: PostgresCluster
    daphne: DaphneServer
    client: RestClient


def _django(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def _outage_env(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    redis = RedisServer(tmp_path_factory.mktemp("outage-redis"))
    redis.start()
    name = f"outages_{os.getpid()}"
    postgres_cluster.create_database(name)
    env = {
        **os.environ,
        **postgres_cluster.settings_env(name),
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "PYTHONPATH": str(REPO_ROOT),
        "REDIS_URL": redis.url,
        "TASK_API_TEST_STALE_AFTER": str(STALE_AFTER),
    }
    _django(env, "migrate", "--verbosity=0")
    _django(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User;"
        "User.objects.create_user('alice', password='pw-alice')",
    )
    try:
        yield env
    finally:
        redis.stop()


def _stack(
    cluster: PostgresCluster, env: dict[str, str], tmp: pytest.TempPathFactory, *, worker: bool
) -> Iterator[Stack]:
    services: list[Any] = []
    try:
        if worker:
            services.append(CeleryWorker(env, tmp.mktemp("outage-celery") / "worker.log"))
        daphne = DaphneServer(env, tmp.mktemp("outage-daphne") / "daphne.log")
        services.append(daphne)
        for service in services:
            try:
                service.start()
            except ServiceError as error:
                pytest.fail(str(error), pytrace=False)
        yield Stack(
            cluster=cluster, daphne=daphne, client=RestClient(daphne.url, "alice", "pw-alice")
        )
    finally:
        for service in reversed(services):
            service.stop()


@pytest.fixture(scope="module")
def celery_stack(
    postgres_cluster: PostgresCluster,
    _outage_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    yield from _stack(postgres_cluster, _outage_env, tmp_path_factory, worker=True)


@pytest.fixture(scope="module")
def inprocess_stack(
    postgres_cluster: PostgresCluster,
    _outage_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    env = {**_outage_env, "TASK_API_TEST_BACKEND": "task_api.backends.inprocess.InProcessBackend"}
    yield from _stack(postgres_cluster, env, tmp_path_factory, worker=False)


@pytest.fixture(params=["celery", "inprocess"])
def stack(request: pytest.FixtureRequest, postgres_cluster: PostgresCluster) -> Iterator[Stack]:
    chosen: Stack = request.getfixturevalue(f"{request.param}_stack")
    yield chosen
    postgres_cluster.start()  # whatever the test did, the next one finds it up


def _get(client: RestClient, uuid: str) -> dict[str, Any] | None:
    """The task as the API shows it, or None while the API cannot answer (503)."""
    try:
        response = client.get(uuid)
    except requests.RequestException:
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
        if task is not None:
            assert task["status"] != "failed", task
            if done(task):
                return task
        time.sleep(0.1)
    raise AssertionError(f"task {uuid} did not get there in {timeout} s: {task}")


def _final(client: RestClient, uuid: str) -> dict[str, Any]:
    return _wait(client, uuid, lambda task: task["status"] in TERMINAL)


@pytest.mark.services
def test_postgres_down_mid_task_then_back(stack: Stack) -> None:
    """The flusher and the heartbeat reconnect; a reader right after does not see it lost."""
    task = stack.client.start("countdown", {"count": 24, "delay": 0.4})
    uuid = task["uuid"]
    _wait(stack.client, uuid, lambda t: (t["progress"] or 0) >= 3)
    stack.cluster.stop()
    away = stack.client.get(uuid)  # a reader meanwhile: retryable, not a 500
    assert away.status_code == 503, away.text
    assert away.headers["Retry-After"] == "1"
    assert away.json()["detail"] == "The database is unavailable; try again shortly."
    time.sleep(OUTAGE)  # longer than STALE_AFTER: no heartbeat got through
    stack.cluster.start()
    during = _wait(stack.client, uuid, lambda t: True, timeout=5)
    assert during["status"] == "running", during
    # Progress is stored again while the task still runs: the flusher reconnected.
    resumed = _wait(stack.client, uuid, lambda t: (t["progress"] or 0) > during["progress"])
    assert resumed["status"] == "running", resumed
    final = _final(stack.client, uuid)
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"counted": 24}
    assert final["progress"] == 24


@pytest.mark.services
def test_postgres_restarted_mid_task(stack: Stack) -> None:
    """``pg_ctl restart -m fast`` cuts every connection; the task carries on and succeeds."""
    task = stack.client.start("countdown", {"count": 12, "delay": 0.25})
    _wait(stack.client, task["uuid"], lambda t: (t["progress"] or 0) >= 2)
    stack.cluster.restart()
    final = _final(stack.client, task["uuid"])
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"counted": 12}
    assert final["progress"] == 12


@pytest.mark.services
def test_postgres_down_when_the_task_finishes(stack: Stack) -> None:
    """The final write is retried until the database is back: the real outcome is kept."""
    task = stack.client.start("countdown", {"count": 4, "delay": 0.25})
    _wait(stack.client, task["uuid"], lambda t: t["status"] == "running")
    stack.cluster.stop()
    time.sleep(OUTAGE)  # the task finished about 4 s ago, its worker still holds the outcome
    stack.cluster.start()
    final = _final(stack.client, task["uuid"])
    assert final["status"] == "succeeded", final
    assert final["outputs"] == {"counted": 4}
    assert final["progress"] == 4
