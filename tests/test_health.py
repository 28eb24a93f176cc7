"""The readiness check, ``manage.py task_api_health`` and ``GET /tasks/health/``.

The first tests run in this process (eager Celery, the in-memory layer); the others stop real
services: Redis (broker and channel layer) and the Celery worker here, PostgreSQL in
``tests/test_health_outages.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from io import StringIO
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client

from task_api.engine.dispatch import BaseBackend
from task_api.health import readiness
from task_api.models import TaskRecord
from task_api.tasks import Task
from tests.services import REPO_ROOT, CeleryWorker, DaphneServer, RedisServer, ServiceError

TOKEN = "health-details-token"
READY = {"database": "ok", "broker": "unused", "channel_layer": "ok", "workers": 1}


class BrokenBroker(BaseBackend):
    """A backend whose broker refuses connections."""

    def dispatch(self, record: TaskRecord, task_class: type[Task], **kwargs: Any) -> None:
        raise AssertionError("not started in these tests")

    def check_broker(self, timeout: float) -> bool:
        raise ConnectionRefusedError("Error 111 connecting to 10.0.0.9:6379. Connection refused.")

    def count_workers(self, timeout: float) -> int:
        raise AssertionError("workers are not asked when the broker is away")


class SlowWorkers(BaseBackend):
    """A backend with a broker whose workers answer late; counts how often it is asked."""

    asked = 0

    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        raise AssertionError("not started in these tests")

    def check_broker(self, timeout: float) -> bool:
        return True

    def count_workers(self, timeout: float) -> int:
        type(self).asked += 1
        time.sleep(timeout + 1)
        return 3


def _command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("task_api_health", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_command_and_the_page_when_everything_answers() -> None:
    code, out = _command()
    assert code == 0
    assert out.splitlines() == [f"{name}: {value}" for name, value in READY.items()]
    assert _command("--json") == (0, json.dumps(READY) + "\n")
    response = Client().get("/tasks/health/")
    assert response.status_code == 200
    assert response.json() == READY
    assert "no-cache" in response["Cache-Control"]
    assert Client().post("/tasks/health/").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_in_process_backend_counts_its_threads(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_INPROCESS_WORKERS = 3
    assert Client().get("/tasks/health/").json() == {**READY, "workers": 3}


@pytest.mark.django_db(transaction=True)
def test_a_failure_is_503_and_its_details_are_for_staff_and_the_token(
    settings: Any, users: Any
) -> None:
    settings.TASK_API_BACKEND = "tests.test_health.BrokenBroker"
    settings.TASK_API_METRICS_TOKEN = TOKEN
    error = "ConnectionRefusedError: Error 111 connecting to 10.0.0.9:6379. Connection refused."
    detailed = {**READY, "broker": error, "workers": 0}
    anonymous = Client().get("/tasks/health/")
    assert anonymous.status_code == 503
    assert anonymous.json() == {**detailed, "broker": "failed"}  # no address for strangers
    alice = Client()
    alice.force_login(users.alice)
    assert alice.get("/tasks/health/").json()["broker"] == "failed"
    staff = Client()
    staff.force_login(users.staff)
    assert staff.get("/tasks/health/").json() == detailed
    bearer = Client().get("/tasks/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert (bearer.status_code, bearer.json()) == (503, detailed)
    code, out = _command()
    assert code == 1
    assert f"broker: {error}" in out.splitlines()
    with pytest.raises(CommandError, match="Not ready: broker, workers"):
        call_command("task_api_health", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_each_check_is_bounded_and_concurrent_checks_share_a_run(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TASK_API_BACKEND = "tests.test_health.SlowWorkers"
    settings.TASK_API_HEALTH_TIMEOUT = 0.3
    calls: list[str] = []

    def stuck_database() -> str:
        calls.append(threading.current_thread().name)
        time.sleep(1.5)
        return readiness.OK

    monkeypatch.setattr(readiness, "check_database", stuck_database)

    async def three_at_once() -> list[readiness.Report]:
        return list(await asyncio.gather(*(readiness.check() for _ in range(3))))

    SlowWorkers.asked = 0
    started = time.monotonic()
    reports = asyncio.run(three_at_once())
    assert time.monotonic() - started < 1.5
    expected = readiness.Report(
        database="timed out after 0.3 s", broker="ok", channel_layer="ok", workers=0
    )
    assert reports == [expected] * 3
    assert expected.failed == ["database", "workers"]
    assert calls == ["task_api-health-database"]  # one run for the three
    assert SlowWorkers.asked == 1


def test_a_backend_that_cannot_count_its_workers_is_not_a_failure() -> None:
    report = readiness.Report(database="ok", broker="ok", channel_layer="unused", workers=None)
    assert report.ok
    assert report.as_json(details=False) == {
        "database": "ok",
        "broker": "ok",
        "channel_layer": "unused",
        "workers": None,
    }


# -- with Redis and a Celery worker of their own -----------------------------------------------


def _health(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run the command in a process of its own, as an operator or a probe would."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "django", "task_api_health", "--json", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Django's start and the workers' full second of replies, not a broker's retries.
    assert time.monotonic() - started < 15, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def stack(
    live_db: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], RedisServer, CeleryWorker, DaphneServer]]:
    redis = RedisServer(tmp_path_factory.mktemp("health-redis"))
    env = {
        **os.environ,
        **live_db,
        "REDIS_URL": redis.url,
        "TASK_API_TEST_METRICS_TOKEN": TOKEN,
    }
    logs = tmp_path_factory.mktemp("health-logs")
    worker = CeleryWorker(env, logs / "worker.log", concurrency=1)
    daphne = DaphneServer(env, logs / "daphne.log")
    services = [redis, worker, daphne]
    try:
        for service in services:
            try:
                service.start()
            except ServiceError as error:
                pytest.fail(str(error), pytrace=False)
        yield env, redis, worker, daphne
    finally:
        for service in reversed(services):
            service.stop()


@pytest.fixture
def running(
    stack: tuple[dict[str, str], RedisServer, CeleryWorker, DaphneServer],
) -> Iterator[tuple[dict[str, str], RedisServer, CeleryWorker, DaphneServer]]:
    """The stack, every service up again after the test."""
    yield stack
    _, redis, worker, daphne = stack
    for service in (redis, worker, daphne):
        service.start()
    worker.wait_ready()


def _page(daphne: DaphneServer, token: str = "") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{daphne.url}/tasks/health/", headers=headers, timeout=15)
    return response.status_code, response.json()


@pytest.mark.services
def test_ready_with_redis_and_a_worker(running: Any) -> None:
    env, _, _, daphne = running
    ready = {"database": "ok", "broker": "ok", "channel_layer": "ok", "workers": 1}
    assert _health(env) == (0, ready)
    assert _page(daphne) == (200, ready)


@pytest.mark.services
def test_no_worker_is_not_ready(running: Any) -> None:
    env, _, worker, daphne = running
    worker.stop()
    assert _health(env) == (
        1,
        {"database": "ok", "broker": "ok", "channel_layer": "ok", "workers": 0},
    )
    assert _page(daphne)[0] == 503
    worker.start()
    assert _health(env)[1]["workers"] == 1


@pytest.mark.services
def test_redis_stopped_fails_the_broker_and_the_layer(running: Any) -> None:
    env, redis, _, daphne = running
    redis.stop()
    code, report = _health(env)
    assert code == 1
    assert report["database"] == "ok"
    assert report["workers"] == 0
    for name in ("broker", "channel_layer"):
        assert "connect" in report[name].lower(), report
        assert str(redis.port) in report[name], report
    status, anonymous = _page(daphne)
    assert (status, anonymous) == (
        503,
        {"database": "ok", "broker": "failed", "channel_layer": "failed", "workers": 0},
    )
    status, detailed = _page(daphne, TOKEN)
    assert status == 503
    assert str(redis.port) in detailed["broker"]
    redis.start()
    deadline = time.monotonic() + 30
    while _page(daphne)[0] != 200:  # the worker reconnects by itself
        assert time.monotonic() < deadline, _page(daphne, TOKEN)
        time.sleep(0.5)
    assert _health(env)[0] == 0
