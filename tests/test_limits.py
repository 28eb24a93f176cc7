"""Limits that keep one task or one client from taking too much."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create(username="limited"))
    return client


@pytest.mark.django_db
def test_messages_kept_per_task_are_capped(
    api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASK_API_MAX_MESSAGES = 3
    body = {"task": "messages", "inputs": {"lines": ["a", "b", "c", "d", "e", "f"]}}
    with django_capture_on_commit_callbacks(execute=True):
        uuid = api.post("/tasks/", body, format="json").json()["uuid"]
    task = api.get(f"/tasks/{uuid}/").json()
    assert task["status"] == "succeeded"
    assert task["outputs"] == {"count": 6}
    assert task["messages"] == [
        "a",
        "b",
        "c",
        "Message limit of 3 reached; later messages are not kept.",
    ]
    assert task["message_log"][-1]["level"] == "warning"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "inputs", "field"),
    [
        ("TASK_API_MAX_STRING_LENGTH", {"text": "x" * 11}, "text"),
        ("TASK_API_MAX_LIST_LENGTH", {"lines": ["x"] * 11}, "lines"),
    ],
)
def test_input_sizes_are_capped(
    api: APIClient, settings: Any, setting: str, inputs: dict[str, Any], field: str
) -> None:
    setattr(settings, setting, 10)
    task = "multi" if field == "text" else "messages"
    response = api.post("/tasks/", {"task": task, "inputs": inputs}, format="json")
    assert response.status_code == 400
    assert list(response.json()["inputs"]) == [field]
    assert "10" in str(response.json()["inputs"][field])
