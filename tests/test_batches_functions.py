"""Batches of ``@task`` functions, with the eager Celery backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from task_api.functions import django_tasks_available

if not django_tasks_available():
    pytest.skip("@task functions need Django 6 or django-tasks", allow_module_level=True)

from rest_framework.test import APIClient

from task_api.batches import batch_json, start_batch
from task_api.models import TaskRecord
from tests.project import batch_functions, functions

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


def test_rest_batch_mixes_functions_and_classes(
    alice: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    api = APIClient()
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/tasks/batches/",
            {
                "tasks": [
                    {"task": "tests.project.functions.count", "inputs": {"n": 3}},
                    {"task": "countdown", "inputs": {"count": 2}},
                ]
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    batch = api.get(f"/tasks/batches/{response.json()['uuid']}/").json()
    assert (batch["status"], batch["progress"], batch["target"]) == ("succeeded", 5, 5)


def test_python_batch_of_function_objects_and_their_children(
    alice: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        batch = start_batch(
            [
                {"task": functions.count, "inputs": {"n": 2}},
                {"task": batch_functions.fan_out, "inputs": {"parts": 3}},
            ],
            user=alice,
        )
    state = batch_json(batch)
    assert (state["status"], state["total"]) == ("succeeded", 5)
    assert state["progress"] == 2 + 1 + 2 + 3
    names = list(
        TaskRecord.objects.filter(batch=batch).order_by("id").values_list("name", flat=True)
    )
    assert names == [
        "tests.project.functions.count",
        "tests.project.batch_functions.fan_out",
        *["tests.project.functions.count"] * 3,
    ]
