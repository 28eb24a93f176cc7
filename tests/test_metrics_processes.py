"""Metrics that real processes add up: daphne and a prefork Celery worker count into one
``PROMETHEUS_MULTIPROC_DIR``, and daphne's page shows the sum to the bearer of the token."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.services import Service, Stack, durable_stack, free_port
from tests.watching import RestClient

TOKEN = "multiprocess-scrape-token"
ADDS = 6

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def counted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus-multiproc")


@pytest.fixture(scope="module")
def stack(
    live_db: dict[str, str], tmp_path_factory: pytest.TempPathFactory, counted_dir: Path
) -> Iterator[Stack]:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(counted_dir), "TASK_API_TEST_METRICS_TOKEN": TOKEN}
    with durable_stack(live_db, tmp_path_factory, "metrics", env=env) as started:
        yield started


def scrape(stack: Stack) -> Samples:
    response = requests.get(
        f"{stack.daphne.url}/tasks/metrics/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def get(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def pids(directory: Path, prefix: str) -> set[int]:
    """The processes that wrote files of ``prefix`` (``counter``, ``gauge_livesum``...)."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob(f"{prefix}_*.db")}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_daphne_and_the_worker_processes_add_up(
    stack: Stack, users: Any, session_cookie: Any, counted_dir: Path
) -> None:
    alice = RestClient(stack.daphne.url, "alice", "pw-alice")
    adds = [alice.start("add", {"a": n, "b": 1})["uuid"] for n in range(ADDS)]
    assert all(alice.wait(uuid)["status"] == "succeeded" for uuid in adds)
    assert alice.wait(alice.start("fail", {"reason": "no"})["uuid"])["status"] == "failed"
    sleeping = alice.start("sleep", {"seconds": 30})["uuid"]
    deadline = time.monotonic() + 20
    while alice.get(sleeping).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    cookie = session_cookie(users.alice).header

    async def watched() -> tuple[Samples, Samples]:
        async with websockets.connect(
            f"{stack.daphne.ws_url}/ws/tasks/",
            additional_headers={"Cookie": cookie, "Origin": stack.daphne.url},
            open_timeout=5,
        ) as socket:
            await socket.send(json.dumps({"type": "subscribe", "uuid": sleeping}))
            assert json.loads(await socket.recv())["type"] == "snapshot"
            await socket.recv()  # an update of its progress: the worker published it
            during = await asyncio.to_thread(scrape, stack)
        await asyncio.sleep(0.5)
        return during, await asyncio.to_thread(scrape, stack)

    during, after = asyncio.run(watched())

    # Started over REST in daphne; run, finished and timed in the worker's pool processes.
    assert get(after, "task_api_tasks_enqueued_total", name="add") == ADDS
    assert get(after, "task_api_tasks_started_total", name="add") == ADDS
    assert get(after, "task_api_tasks_finished_total", name="add", state="succeeded") == ADDS
    assert get(after, "task_api_tasks_finished_total", name="fail", state="failed") == 1
    assert get(after, "task_api_task_runtime_seconds_count", name="add") == ADDS
    assert get(after, "task_api_task_queue_seconds_count", name="add") == ADDS
    assert get(after, "task_api_events_published_total") >= 3 * ADDS  # started, ended, ...
    assert get(after, "task_api_event_publish_seconds_count") == get(
        after, "task_api_events_published_total"
    )
    # Live connections are daphne's; the running task is read from the database.
    assert get(during, "task_api_websocket_connections") == 1
    assert get(during, "task_api_subscriptions") == 1
    assert get(during, "task_api_tasks_running", name="sleep") == 1
    assert get(after, "task_api_websocket_connections") == 0
    assert get(after, "task_api_subscriptions") == 0
    # The counts come from several processes: daphne and at least one pool process.
    writers = pids(counted_dir, "counter")
    assert stack.daphne.pid in writers
    assert writers & set(stack.worker.child_pids()), (writers, stack.worker.child_pids())
    assert stack.daphne.pid in pids(counted_dir, "gauge_livesum")

    cancelled = alice.session.post(f"{stack.daphne.url}/tasks/{sleeping}/cancel/", timeout=10)
    assert cancelled.status_code in (200, 202), cancelled.text
    assert alice.wait(sleeping)["status"] == "cancelled"

    # A restarted daphne drops its share of the live gauges; the counters stay.
    old = stack.daphne.pid
    stack.daphne.restart()
    assert old not in pids(counted_dir, "gauge_livesum")
    again = scrape(stack)
    assert get(again, "task_api_tasks_enqueued_total", name="add") == ADDS
    assert get(again, "task_api_tasks_finished_total", name="sleep", state="cancelled") == 1
    assert get(again, "task_api_tasks_running", name="sleep") == 0
    assert get(again, "task_api_websocket_connections") == 0


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_only_host_serves_the_same_sums_without_daphne(
    stack: Stack, tmp_path: Path
) -> None:
    """``manage.py task_api_metrics`` reads the same directory: what daphne's page shows."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    argv = [sys.executable, "-m", "django", "task_api_metrics", "--port", str(port)]
    server = Service(
        "task_api_metrics",
        argv,
        log_path=tmp_path / "metrics.log",
        ready=lambda: _answers(url),
        env=stack.daphne.env,
    )
    server.start()
    try:
        assert requests.get(url, timeout=10).status_code == 401
        wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        elsewhere = f"http://127.0.0.1:{port}/tasks/metrics/"
        assert requests.get(elsewhere, timeout=10).status_code == 404
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("text/plain")
        here: Samples = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                here[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        there = scrape(stack)
        for metric, labels in [
            ("task_api_tasks_enqueued_total", {"name": "add"}),
            ("task_api_tasks_finished_total", {"name": "add", "state": "succeeded"}),
            ("task_api_tasks_running", {"name": "sleep"}),
        ]:
            assert get(here, metric, **labels) == get(there, metric, **labels), metric
        assert get(here, "task_api_tasks_finished_total", name="add", state="succeeded") > 0
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True
