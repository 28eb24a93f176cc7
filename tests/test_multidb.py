"""The task tables on a second database: every query of the library follows the router."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.test import APIClient

from task_api.batches import start_batch
from task_api.models import TaskBatch, TaskRecord
from tests.project.routers import TASKS_DB

pytestmark = pytest.mark.django_db(databases=["default", TASKS_DB], transaction=True)

TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def elsewhere(settings: Any) -> None:
    settings.DATABASE_ROUTERS = ["tests.project.routers.TaskTablesElsewhere"]
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_PROGRESS_INTERVAL = 0.01
    settings.TASK_API_CANCEL_CHECK_INTERVAL = 0.05
    settings.TASK_API_MAX_RUNNING_PER_USER = 2


@pytest.fixture
def alice() -> User:
    user = User.objects.create(username="alice")
    # The task tables' database has its own auth tables: the owner exists there too.
    User.objects.using(TASKS_DB).create(pk=user.pk, username="alice")
    return user


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def wait_for(uuid: str, done: Callable[[TaskRecord], bool], timeout: float = 15) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = TaskRecord.objects.get(uuid=uuid)
        if done(record):
            return record
        assert time.monotonic() < deadline, f"task {uuid} is still {record.status}"
        time.sleep(0.02)


def test_start_progress_and_outcome_are_stored_on_the_tasks_database(
    elsewhere: None, api: APIClient
) -> None:
    response = api.post("/tasks/", {"task": "countdown", "inputs": {"count": 5}}, format="json")
    assert response.status_code == 201, response.content
    record = wait_for(response.json()["uuid"], lambda r: r.status in TERMINAL)
    assert record.status == "succeeded"
    assert (record.progress, record.target) == (5, 5)
    assert TaskRecord.objects.using(TASKS_DB).count() == 1
    assert TaskRecord.objects.using("default").count() == 0


def test_the_limit_and_cancel_work_on_the_tasks_database(elsewhere: None, api: APIClient) -> None:
    body = {"task": "sleep", "inputs": {"seconds": 30}}
    first, second = (api.post("/tasks/", body, format="json") for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 201)
    assert api.post("/tasks/", body, format="json").status_code == 429
    for response in (first, second):
        uuid = response.json()["uuid"]
        wait_for(uuid, lambda r: r.status == "running")
        assert api.post(f"/tasks/{uuid}/cancel/").status_code == 202
        assert wait_for(uuid, lambda r: r.status in TERMINAL).status == "cancelled"
    assert api.post("/tasks/", body | {"inputs": {"seconds": 0}}, format="json").status_code == 201
    assert TaskRecord.objects.using("default").count() == 0


def test_a_start_inside_the_tasks_databases_transaction_waits_for_its_commit(
    elsewhere: None, alice: User
) -> None:
    with transaction.atomic(using=TASKS_DB):
        batch = start_batch([{"task": "add", "inputs": {"a": 1, "b": 2}}], user=alice)
        (record,) = TaskRecord.objects.filter(batch=batch)
        time.sleep(0.2)
        assert TaskRecord.objects.get(pk=record.pk).status == "pending"
    assert wait_for(str(record.uuid), lambda r: r.status in TERMINAL).outputs == {"sum": 3}
    assert TaskBatch.objects.using("default").count() == 0
