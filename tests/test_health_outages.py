"""The readiness check while PostgreSQL is stopped, then back: ``task_api_health`` and daphne's
``/tasks/health/`` on a database of a private cluster (``tests/services.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.services import REPO_ROOT, DaphneServer, PostgresCluster, ServiceError

TOKEN = "health-outage-token"
READY = {"database": "ok", "broker": "unused", "channel_layer": "ok", "workers": 1}

# Like tests/test_db_outages.py: a cluster of their own, run in the PostgreSQL pass only.
pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        os.environ.get("TASK_API_TEST_DB") == "sqlite",
        reason="independent of the test database; runs in the PostgreSQL pass",
    ),
]


def _django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def served(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], DaphneServer]]:
    """The environment of a project on a database of the cluster (eager Celery, the in-memory
    layer), and daphne serving it."""
    name = f"health_{os.getpid()}"
    postgres_cluster.create_database(name)
    env = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        **postgres_cluster.settings_env(name),
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "PYTHONPATH": str(REPO_ROOT),
        "TASK_API_TEST_METRICS_TOKEN": TOKEN,
    }
    migrated = _django(env, "migrate", "--verbosity=0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    daphne = DaphneServer(env, tmp_path_factory.mktemp("health-pg") / "daphne.log")
    try:
        daphne.start()
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield env, daphne
    finally:
        daphne.stop()


def _command(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = _django(env, "task_api_health", "--json")
    return done.returncode, json.loads(done.stdout)


def _page(daphne: DaphneServer, token: str = "") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{daphne.url}/tasks/health/", headers=headers, timeout=15)
    return response.status_code, response.json()


def test_postgres_stopped_then_back(
    served: tuple[dict[str, str], DaphneServer], postgres_cluster: PostgresCluster
) -> None:
    env, daphne = served
    assert _command(env) == (0, READY)
    assert _page(daphne) == (200, READY)
    postgres_cluster.stop()
    try:
        code, report = _command(env)
        assert code == 1
        assert report == {**READY, "database": report["database"]}
        assert report["database"].startswith("default: OperationalError"), report
        assert str(postgres_cluster.port) in report["database"]
        started = time.monotonic()
        # The session of a request cannot be read either: strangers see what failed.
        assert _page(daphne) == (503, {**READY, "database": "failed"})
        status, detailed = _page(daphne, TOKEN)
        assert (status, detailed) == (503, report)
        assert time.monotonic() - started < 5
    finally:
        postgres_cluster.start()
    # Each check connects anew: ready again at once.
    assert _page(daphne) == (200, READY)
    assert _command(env) == (0, READY)
