"""Starting tasks from code, and the lifecycle signals."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from task_api.exceptions import UnknownTask
from task_api.models import TaskRecord, TaskStatus
from task_api.signals import task_enqueued, task_finished, task_started
from task_api.tasks import InputErrors, Task
from tests.project.tasks import Add, Echo, Fail


@pytest.fixture
def received() -> Any:
    seen: list[tuple[str, str, str]] = []

    def receiver(name: str) -> Any:
        def record(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
            seen.append((name, record.name, record.status))

        return record

    receivers = [
        (signal, receiver(name))
        for name, signal in (
            ("enqueued", task_enqueued),
            ("started", task_started),
            ("finished", task_finished),
        )
    ]
    for signal, function in receivers:
        signal.connect(function)
    yield seen
    for signal, function in receivers:
        signal.disconnect(function)


@pytest.mark.django_db(transaction=True)
def test_enqueue_from_code_runs_the_task_and_sends_the_signals(
    received: Any, django_user_model: Any
) -> None:
    user = django_user_model.objects.create(username="coder")
    record = Add.enqueue(user=user, a=2, b=3)
    record.refresh_from_db()
    assert record.status == TaskStatus.SUCCEEDED
    assert record.outputs == {"sum": 5}
    assert record.owner == user
    # Eager Celery runs the task inside enqueue, before it is reported enqueued.
    assert received == [
        ("started", "add", "running"),
        ("finished", "add", "succeeded"),
        ("enqueued", "add", "succeeded"),
    ]


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_enqueued_is_sent_once_it_commits(received: Any) -> None:
    with transaction.atomic():
        Add.enqueue(a=1)
        assert received == []  # nothing dispatched yet
    assert received == [
        ("started", "add", "running"),
        ("finished", "add", "succeeded"),
        ("enqueued", "add", "succeeded"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failed_task_sends_finished(received: Any) -> None:
    record = Fail.enqueue(reason="no")
    record.refresh_from_db()
    assert record.status == TaskStatus.FAILED
    assert ("finished", "fail", "failed") in received


@pytest.mark.django_db(transaction=True)
def test_enqueue_checks_inputs_like_the_api() -> None:
    with pytest.raises(InputErrors) as caught:
        Add.enqueue(b="x", c=1)
    assert set(caught.value.errors) == {"a", "b", "c"}
    assert TaskRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_refuses_text_no_database_stores_naming_the_field() -> None:
    with pytest.raises(InputErrors) as caught:
        Echo.enqueue(value={"k": "a\x00b"})
    nul = "holds a NUL character (\\u0000), which cannot be stored."
    assert caught.value.errors == {"value": {"k": [f"The value 'a\\x00b' {nul}"]}}
    assert TaskRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_touch_the_task() -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    task_started.connect(broken)
    try:
        record = Add.enqueue(a=1)
    finally:
        task_started.disconnect(broken)
    record.refresh_from_db()
    assert record.status == TaskStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_only_registered_classes_can_be_enqueued() -> None:
    class Unregistered(Task):
        name = "unregistered"

    with pytest.raises(UnknownTask):
        Unregistered.enqueue()
    with override_settings(TASK_API_BACKGROUND_TASKS=[]), pytest.raises(UnknownTask):
        Add.enqueue(a=1)
