"""A second message of a running ``retry_safe`` task takes it over only once its worker is gone."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from task_api.engine import runner
from task_api.models import TaskRecord, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(settings: Any, django_user_model: Any) -> APIClient:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_BACKGROUND_TASKS = django_settings.TASK_API_BACKGROUND_TASKS
    settings.TASK_API_HEARTBEAT_INTERVAL = 0.5
    settings.TASK_API_CANCEL_CHECK_INTERVAL = 0.1
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("alice"))
    return client


def _running(api: APIClient, seconds: float) -> str:
    response = api.post(
        "/tasks/", {"task": "retry-safe-sleep", "inputs": {"seconds": seconds}}, format="json"
    )
    uuid = str(response.json()["uuid"])
    deadline = time.monotonic() + 10
    while TaskRecord.objects.get(uuid=uuid).status != TaskStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return uuid


def test_a_duplicate_message_of_a_live_task_does_not_run_it_again(api: APIClient) -> None:
    uuid = _running(api, 3)
    assert runner.execute(uuid) == runner.SKIPPED  # its worker beats meanwhile
    deadline = time.monotonic() + 10
    while (record := TaskRecord.objects.get(uuid=uuid)).status == TaskStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert record.status == TaskStatus.SUCCEEDED
    assert record.attempt == 1
    assert record.outputs == {"attempt": 1}


def test_a_task_whose_heartbeat_stopped_is_taken_over(api: APIClient) -> None:
    uuid = _running(api, 0.5)
    # As a worker that died leaves it: running, its last heartbeat long ago.
    TaskRecord.objects.filter(uuid=uuid).update(status=TaskStatus.PENDING)
    time.sleep(1.5)  # the first run finds it no longer its own and stops
    TaskRecord.objects.filter(uuid=uuid).update(
        status=TaskStatus.RUNNING, heartbeat=timezone.now() - timedelta(seconds=30)
    )
    outcome = runner.execute(uuid, background_flush=False)
    assert outcome.status == TaskStatus.SUCCEEDED
    record = TaskRecord.objects.get(uuid=uuid)
    assert record.attempt == 2
    assert record.outputs == {"attempt": 2}
