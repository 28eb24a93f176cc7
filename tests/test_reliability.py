"""When things go wrong, with real processes: killed workers, time limits, retries, outages."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from task_api.models import TaskRecord, TaskStatus
from tests.watching import RestClient


@pytest.fixture
def alice(celery_worker: Any, daphne_server: Any, users: Any) -> RestClient:
    return RestClient(daphne_server.url, "alice", "pw-alice")


def wait_for_status(
    client: RestClient, uuid: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(uuid).json()
        if task["status"] == status:
            return dict(task)
        time.sleep(0.05)
    raise AssertionError(f"task {uuid} never reached {status}: {task}")


def kill_pool_processes(worker: Any) -> None:
    children = worker.child_pids()
    assert children, "the worker has no pool processes"
    for pid in children:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def fresh_worker_after(celery_worker: Any) -> Iterator[Any]:
    """Restart the worker after a test that killed its pool processes.

    Celery's prefork pool keeps the killed processes' slots; the next broker
    reconnection then fails on them ("file descriptor is None"), so later tests
    get a worker that never saw a SIGKILL.
    """
    yield celery_worker
    celery_worker.restart()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_killed_worker_fails_the_task_as_lost(
    alice: RestClient, fresh_worker_after: Any, celery_worker: Any
) -> None:
    task = alice.start("sleep", {"seconds": 30})
    wait_for_status(alice, task["uuid"], "running")
    kill_pool_processes(celery_worker)
    final = alice.wait(task["uuid"], timeout=15)
    assert final["status"] == "failed"
    assert final["error"]["type"] == "WorkerLost"
    assert "stopped responding" in final["error"]["message"]
    # The pool replaced its processes: the next task runs.
    assert alice.wait(alice.start("add", {"a": 1})["uuid"])["status"] == "succeeded"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_killed_worker_reruns_a_retry_safe_task(
    alice: RestClient, fresh_worker_after: Any, celery_worker: Any
) -> None:
    task = alice.start("retry-safe-sleep", {"seconds": 1})
    wait_for_status(alice, task["uuid"], "running")
    kill_pool_processes(celery_worker)
    final = alice.wait(task["uuid"], timeout=30)
    assert final["status"] == "succeeded"
    assert final["attempt"] == 2
    assert final["outputs"] == {"attempt": 2}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_hard_time_limit_stops_a_task_that_never_checks_in(alice: RestClient) -> None:
    final = alice.wait(alice.start("stubborn", {"seconds": 30})["uuid"], timeout=20)
    assert final["status"] == "failed"
    assert final["error"] == {
        "type": "TaskTimeout",
        "message": "The task ran past its time limit and was stopped.",
    }


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_soft_time_limit_fails_with_a_timeout(alice: RestClient) -> None:
    final = alice.wait(alice.start("soft-limited", {"seconds": 10})["uuid"], timeout=20)
    assert final["status"] == "failed"
    assert final["error"]["type"] == "TaskTimeout"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_retries_with_backoff_and_the_attempt_count(alice: RestClient) -> None:
    final = alice.wait(alice.start("flaky", {"succeed_on": 3})["uuid"], timeout=20)
    assert final["status"] == "succeeded"
    assert final["attempt"] == 3
    assert final["outputs"] == {"attempt": 3}
    assert [m for m in final["messages"] if "retrying" in m] == [
        "Attempt 1 failed (ConnectionError: attempt 1 could not connect); retrying in 0.1 s.",
        "Attempt 2 failed (ConnectionError: attempt 2 could not connect); retrying in 0.2 s.",
    ]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_retries_give_up_after_max_retries(alice: RestClient) -> None:
    final = alice.wait(alice.start("flaky", {"succeed_on": 99})["uuid"], timeout=20)
    assert final["status"] == "failed"
    assert final["attempt"] == 4
    assert final["error"] == {"type": "ConnectionError", "message": "attempt 4 could not connect"}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_cancel_pending_and_running_tasks(alice: RestClient) -> None:
    running = alice.start("sleep", {"seconds": 30})
    wait_for_status(alice, running["uuid"], "running")
    url = f"{alice.base_url}/tasks/{running['uuid']}/cancel/"
    answer = alice.session.post(url, timeout=10)
    assert answer.status_code == 202
    assert answer.json()["cancel_requested"] is True
    final = alice.wait(running["uuid"], timeout=10)
    assert final["status"] == "cancelled"
    assert final["error"]["type"] == "Cancelled"
    again = alice.session.post(url, timeout=10)
    assert again.status_code == 409
    assert "already finished" in again.json()["detail"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_broker_down_answers_503_and_leaves_no_record(alice: RestClient, redis_server: Any) -> None:
    before = TaskRecord.objects.count()
    redis_server.stop()
    try:
        response = alice.session.post(
            f"{alice.base_url}/tasks/", json={"task": "add", "inputs": {"a": 1}}, timeout=30
        )
    finally:
        redis_server.start()
    assert response.status_code == 503
    assert "broker" in response.json()["detail"]
    assert TaskRecord.objects.count() == before
    assert alice.wait(alice.start("add", {"a": 2})["uuid"], timeout=30)["status"] == "succeeded"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_a_thousand_concurrent_tasks_each_end_exactly_once(alice: RestClient) -> None:
    def post(i: int) -> str:
        session = requests.Session()
        session.auth = ("alice", "pw-alice")
        response = session.post(
            f"{alice.base_url}/tasks/", json={"task": "add", "inputs": {"a": i, "b": 1}}, timeout=60
        )
        assert response.status_code == 201, response.text
        return str(response.json()["uuid"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        uuids = list(pool.map(post, range(1000)))
    assert len(set(uuids)) == 1000
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if not TaskRecord.objects.filter(uuid__in=uuids).unfinished().exists():
            break
        time.sleep(0.5)
    records = TaskRecord.objects.filter(uuid__in=uuids)
    assert records.count() == 1000
    assert records.filter(status=TaskStatus.SUCCEEDED).count() == 1000
    assert records.filter(attempt=1).count() == 1000
    wrong = [r.uuid for r in records if r.outputs != {"sum": r.inputs["a"] + 1}]
    assert wrong == []


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_double_click_starts_one_task(alice: RestClient) -> None:
    def post(_: int) -> tuple[int, str]:
        session = requests.Session()
        session.auth = ("alice", "pw-alice")
        response = session.post(
            f"{alice.base_url}/tasks/",
            json={"task": "add", "inputs": {"a": 1}},
            headers={"Idempotency-Key": "click-42"},
            timeout=30,
        )
        return response.status_code, str(response.json()["uuid"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {uuid for _, uuid in answers} == {answers[0][1]}
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert TaskRecord.objects.filter(idempotency_key="click-42").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_key_race_to_one_task(django_user_model: Any) -> None:
    from django.db import connection

    from task_api.engine.service import start as start_task
    from task_api.registry import get_task

    user = django_user_model.objects.create(username="racer")
    task_class = get_task("add")
    barrier = threading.Barrier(6)

    def race(_: int) -> str:
        try:
            barrier.wait()
            record, _created = start_task(
                task_class, {"a": 1}, owner={"owner": user, "session_key": ""}, idempotency_key="k"
            )
            return str(record.uuid)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        uuids = set(pool.map(race, range(6)))
    assert len(uuids) == 1
    assert TaskRecord.objects.filter(idempotency_key="k").count() == 1


@pytest.mark.django_db
def test_stale_running_task_is_failed_when_read(admin_client: Any, admin_user: Any) -> None:
    record = TaskRecord.objects.create(
        name="sleep",
        owner=admin_user,
        status=TaskStatus.RUNNING,
        heartbeat=timezone.now() - timedelta(minutes=5),
    )
    task = admin_client.get(f"/tasks/{record.uuid}/").json()
    assert task["status"] == "failed"
    assert task["error"]["type"] == "WorkerLost"


@pytest.mark.django_db
def test_fresh_running_task_is_left_alone(admin_client: Any, admin_user: Any) -> None:
    record = TaskRecord.objects.create(
        name="sleep", owner=admin_user, status=TaskStatus.RUNNING, heartbeat=timezone.now()
    )
    assert admin_client.get(f"/tasks/{record.uuid}/").json()["status"] == "running"


@pytest.mark.django_db
def test_purge_removes_old_finished_tasks(admin_client: Any, admin_user: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    old = TaskRecord.objects.create(
        name="add",
        owner=admin_user,
        status=TaskStatus.SUCCEEDED,
        finished=timezone.now() - timedelta(days=8),
    )
    recent = TaskRecord.objects.create(
        name="add", owner=admin_user, status=TaskStatus.SUCCEEDED, finished=timezone.now()
    )
    running = TaskRecord.objects.create(name="add", owner=admin_user, status=TaskStatus.RUNNING)
    out = StringIO()
    call_command("purge_tasks", "--dry-run", stdout=out)
    assert "Would remove 1 finished tasks" in out.getvalue()
    assert TaskRecord.objects.count() == 3
    call_command("purge_tasks", stdout=out)
    assert set(TaskRecord.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert admin_client.get(f"/tasks/{old.uuid}/").status_code == 404
