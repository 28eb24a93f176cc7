"""``@task`` functions through ``task_api.backends.django_tasks``: eager Celery and in-process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from task_api.functions import django_tasks_available

if not django_tasks_available():
    pytest.skip("@task functions need Django 6 or django-tasks", allow_module_level=True)

from django.core.checks import run_checks
from django.test import override_settings
from rest_framework.test import APIClient

from task_api import enqueued_by, progress
from task_api.backends.django_tasks import TaskAPIBackend
from task_api.compat import (
    PACKAGE,
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task,
    task_backends,
)
from task_api.compat import signals as django_signals
from task_api.engine.lifecycle import cancel
from task_api.exceptions import InputErrors
from task_api.models import TaskRecord
from tests.project import function_errors, functions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received() -> Iterator[list[tuple[str, str, str]]]:
    """Django's task signals seen in this process: (signal, result id, status)."""
    seen: list[tuple[str, str, str]] = []
    receivers = []
    for name in ("task_enqueued", "task_started", "task_finished"):

        def receiver(sender: Any, task_result: Any, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, task_result.id, str(task_result.status)))

        getattr(django_signals, name).connect(receiver)
        receivers.append((name, receiver))
    yield seen
    for name, receiver in receivers:
        getattr(django_signals, name).disconnect(receiver)


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"


def wait_finished(result: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not result.is_finished:
        assert time.monotonic() < deadline, f"task {result.id} is still {result.status}"
        time.sleep(0.02)
        result.refresh()
    return result


def test_the_backend_is_configured() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, TaskAPIBackend)
    assert functions.count.get_backend() is backend
    assert backend.supports_get_result
    assert backend.supports_async_task
    assert not backend.supports_priority
    assert backend.supports_defer  # Celery is the engine of the test project


def test_enqueue_runs_and_the_result_is_the_record(received: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("fn")
    with enqueued_by(user):
        result = functions.count.enqueue(3, label="row")
    record = TaskRecord.objects.get(uuid=result.id)
    assert record.name == "tests.project.functions.count"
    assert record.owner == user
    assert record.status == "succeeded"
    assert (record.progress, record.target) == (3, 3)
    assert [m["value"] for m in record.messages] == ["row 1", "row 2", "row 3"]
    assert record.outputs == {"return_value": 3}
    fresh = functions.count.get_result(result.id)
    assert fresh.status == TaskResultStatus.SUCCESSFUL
    assert fresh.return_value == 3
    assert fresh.kwargs == {"n": 3, "label": "row"}
    assert fresh.attempts == 1
    assert fresh.errors == []
    assert (fresh.enqueued_at, fresh.finished_at) == (record.created, record.finished)
    # Eager Celery runs the task inside enqueue, before it is reported enqueued.
    assert received == [
        ("task_started", result.id, "RUNNING"),
        ("task_finished", result.id, "SUCCESSFUL"),
        ("task_enqueued", result.id, "SUCCESSFUL"),
    ]


def test_a_failure_is_in_errors_and_in_the_task_json(received: Any) -> None:
    result = functions.explode.enqueue("disk full")
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class is ValueError
    assert "ValueError: disk full" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    client = APIClient()
    client.force_authenticate(_staff())
    body = client.get(f"/tasks/{result.id}/").json()
    assert body["status"] == "failed"
    assert body["error"] == {"type": "ValueError", "message": "disk full"}
    assert ("task_finished", result.id, "FAILED") in received


def test_inputs_are_checked_like_the_api() -> None:
    with pytest.raises(InputErrors) as caught:
        functions.count.enqueue("many", delay="slow")
    assert set(caught.value.errors) == {"n", "delay"}
    with pytest.raises(InputErrors) as caught:
        functions.count.enqueue()
    assert "non_field_errors" in caught.value.errors
    assert TaskRecord.objects.count() == 0


def test_typed_inputs_are_converted() -> None:
    result = functions.typed.enqueue(
        size=2,
        ratio=0.5,
        name="x",
        flag=True,
        tags=["a"],
        weights={"w": 1.5},
        mode="fast",
        shape=functions.Shape.SQUARE,
        when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        day=datetime(2026, 1, 2).date(),
    )
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value["shape"] == "square"
    assert result.return_value["when"] == "2026-01-02T03:04:00+00:00"
    assert (result.return_value["note"], result.return_value["limit"]) == (None, 3)


def test_context_and_async_functions_run() -> None:
    result = functions.with_context.enqueue("hi")
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == {"id": result.id, "attempt": 1, "word": "hi"}
    result = functions.sleepy.enqueue(0.01)
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == "awake"
    assert TaskRecord.objects.get(uuid=result.id).progress == 1


def test_get_result_of_unknown_and_class_tasks() -> None:
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("not-a-uuid")
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("00000000-0000-0000-0000-000000000000")
    record = TaskRecord.objects.create(name="add", inputs={"a": 1})
    with pytest.raises(TaskResultDoesNotExist, match="not a @task function"):
        backend.get_result(str(record.uuid))


def test_run_after_needs_an_engine_that_can_defer(settings: Any) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    functions.count.using(run_after=later)  # Celery: accepted
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    with pytest.raises(InvalidTask, match="run_after"):
        functions.count.using(run_after=later)


def test_functions_that_cannot_be_typed_are_invalid() -> None:
    with pytest.raises(InvalidTask, match=r"parameter 'blob': the annotation bytes has no JSON"):
        task(function_errors.takes_bytes)
    with pytest.raises(InvalidTask, match=r"parameter 'args' is variadic positional"):
        task(function_errors.takes_args)
    with pytest.raises(InvalidTask, match="priority"):
        functions.count.using(priority=5)


def test_a_listed_function_with_a_bad_annotation_is_a_check_error(settings: Any) -> None:
    settings.TASK_API_BACKGROUND_TASKS = ["tests.project.function_errors.untyped"]
    errors = [e for e in run_checks(databases=[]) if e.id and e.id.startswith("task_api.")]
    assert [e.id for e in errors] == ["task_api.E005"]
    assert "tests.project.function_errors.untyped" in errors[0].msg
    assert "'anything'" in errors[0].msg


def test_backend_check_reports_options() -> None:
    tasks = {"BACKEND": "task_api.backends.django_tasks.TaskAPIBackend", "OPTIONS": {"queue": 1}}
    with override_settings(TASKS={"default": tasks}):
        errors = [e for e in run_checks(databases=[]) if e.id == "task_api.E007"]
    assert len(errors) == 1
    assert "OPTIONS ['queue']" in errors[0].msg
    assert "celery_queue" in errors[0].msg  # the names it knows


def test_progress_api_is_a_no_op_outside_a_worker(settings: Any) -> None:
    assert functions.count.call(3) == 3  # a plain call
    progress.set(5)
    progress.message("nobody listens")
    progress.check_cancelled()
    assert progress.cancel_requested() is False
    with override_settings(
        TASKS={"default": {"BACKEND": f"{PACKAGE}.backends.immediate.ImmediateBackend"}}
    ):
        result = functions.count.enqueue(2)
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value == 2
    assert TaskRecord.objects.count() == 0


def test_inprocess_run_with_cancel_that_except_exception_cannot_swallow(
    inprocess: None, received: Any
) -> None:
    result = functions.stubborn.enqueue(20.0)
    record = TaskRecord.objects.get(uuid=result.id)
    _wait_status(record, "running")
    cancel(record)
    result = wait_finished(result)
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class_path == "task_api.exceptions.Cancelled"
    assert TaskRecord.objects.get(uuid=result.id).status == "cancelled"
    # A thread of the pool may start the task before enqueue() returns and reports it.
    assert sorted(received) == [
        ("task_enqueued", result.id, "READY"),
        ("task_finished", result.id, "FAILED"),
        ("task_started", result.id, "RUNNING"),
    ]


def test_cancelled_can_be_caught_by_name_to_clean_up(inprocess: None) -> None:
    result = functions.careful.enqueue(20.0)
    record = TaskRecord.objects.get(uuid=result.id)
    _wait_status(record, "running")
    cancel(record)
    wait_finished(result)
    record.refresh_from_db()
    assert record.status == "cancelled"
    assert [m["value"] for m in record.messages] == ["cleaned up"]


def test_get_result_agrees_with_rest_at_every_status(inprocess: None) -> None:
    client = APIClient()
    client.force_authenticate(_staff())
    result = functions.count.enqueue(40, delay=0.02)
    seen = set()
    deadline = time.monotonic() + 20
    while True:
        body = client.get(f"/tasks/{result.id}/").json()
        fresh = functions.count.get_result(result.id)
        if fresh.status == _STATUS[body["status"]]:  # the two reads are one moment apart
            seen.add(body["status"])
        if body["status"] == "succeeded" and fresh.is_finished:
            break
        assert time.monotonic() < deadline
    assert {"running", "succeeded"} <= seen
    assert fresh.return_value == body["outputs"]["return_value"] == 40


def test_only_listed_functions_start_over_rest(django_user_model: Any) -> None:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("rest"))
    ok = client.post(
        "/tasks/",
        {"task": "tests.project.functions.count", "inputs": {"n": "2"}},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["outputs"] == {"return_value": 2}
    for name in ("tests.project.functions.stubborn", "tests.project.functions.not_a_task"):
        refused = client.post("/tasks/", {"task": name, "inputs": {}}, format="json")
        assert refused.status_code == 400
        assert "Unknown task" in refused.json()["task"][0]
    bad = client.post(
        "/tasks/",
        {
            "task": "tests.project.functions.typed",
            "inputs": {"size": 1.5, "mode": "medium", "when": "yesterday", "extra": 1},
        },
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["inputs"]) == {
        "size", "ratio", "name", "flag", "tags", "weights", "mode", "shape", "when", "day",
        "extra",
    }  # fmt: skip


def test_catalog_and_openapi_describe_listed_functions(django_user_model: Any) -> None:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("cat"))
    catalog = {t["name"]: t for t in client.get("/tasks/catalog/").json()}
    typed = catalog["tests.project.functions.typed"]
    assert typed["inputs"]["properties"]["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert typed["inputs"]["properties"]["note"]["anyOf"][1] == {"type": "null"}
    assert catalog["tests.project.functions.count"]["description"].startswith("Count to")
    assert typed["title"] == "Typed"
    assert "tests.project.functions.stubborn" not in catalog


def test_another_user_cannot_see_or_cancel_a_task_enqueued_for_a_user(
    django_user_model: Any,
) -> None:
    owner = django_user_model.objects.create_user("owner")
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user("other"))
    with enqueued_by(owner):
        result = functions.count.enqueue(1)
    assert other.get(f"/tasks/{result.id}/").status_code == 404
    assert other.post(f"/tasks/{result.id}/cancel/").status_code == 404
    mine = APIClient()
    mine.force_authenticate(owner)
    assert mine.get(f"/tasks/{result.id}/").status_code == 200


_STATUS = {
    "pending": TaskResultStatus.READY,
    "running": TaskResultStatus.RUNNING,
    "succeeded": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "cancelled": TaskResultStatus.FAILED,
}


def _staff() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("staff", is_staff=True)


def _wait_status(record: TaskRecord, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while record.status != status:
        assert time.monotonic() < deadline, f"task is still {record.status}"
        time.sleep(0.02)
        record.refresh_from_db()


async def test_aenqueue_and_aget_result() -> None:
    result = await functions.count.aenqueue(2)
    assert result.status == TaskResultStatus.SUCCESSFUL
    fresh = await functions.count.aget_result(result.id)
    assert fresh.return_value == 2
    await fresh.arefresh()
    assert fresh.attempts == 1


def test_openapi_document_has_a_start_body_per_listed_function(django_user_model: Any) -> None:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("doc"))
    response = client.get("/tasks/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    titles = {
        schema.get("title")
        for schema in response.json()["components"]["schemas"].values()
        if isinstance(schema, dict)
    }
    assert {"tests.project.functions.count", "tests.project.functions.typed"} <= titles
    assert "tests.project.functions.stubborn" not in titles
