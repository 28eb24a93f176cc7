"""Starting and cancelling batches from Python; the REST views call the same functions."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from task_api import progress, signals
from task_api.conf import task_api_settings
from task_api.engine import batch_notifier, lifecycle
from task_api.engine.dispatch import BackendUnavailable, get_backend
from task_api.engine.service import LimitReached
from task_api.exceptions import BatchErrors, BatchTooLarge, NotInBatch, UnknownTask
from task_api.functions import is_django_task, task_class_for
from task_api.models import TaskBatch, TaskRecord, TaskStatus
from task_api.owners import current_owner
from task_api.registry import get_task
from task_api.tasks import InputErrors, Task, _to_json

logger = logging.getLogger("task_api.batches")

ITEM_FIELDS = ("task", "inputs")


def _resolve(task: Any) -> type[Task]:
    if is_django_task(task):  # a @task function, as Django's own enqueue() takes it
        return task_class_for(task)
    if isinstance(task, type) and issubclass(task, Task):
        if get_task(task.name) is not task:
            raise UnknownTask(
                f"Task class {task.__qualname__} is not the registered {task.name!r}."
            )
        return task
    if not isinstance(task, str) or not task:
        raise UnknownTask(f"Expected a task name or a registered Task class; got {task!r}.")
    return get_task(task)


def clean_item(item: Any, *, python: bool = False) -> tuple[type[Task], dict[str, Any]]:
    """One ``{"task": ..., "inputs": {...}}`` checked; ``BatchErrors`` keyed by field."""
    if not isinstance(item, Mapping):
        raise BatchErrors({"non_field_errors": ["Expected an object with 'task' and 'inputs'."]})
    errors: dict[str, Any] = {
        str(key): [f"Unexpected field {key!r}; items have 'task' and 'inputs'."]
        for key in item
        if key not in ITEM_FIELDS
    }
    task_class: type[Task] | None = None
    if "task" not in item:
        errors["task"] = ["This field is required."]
    else:
        try:
            task_class = _resolve(item["task"])
        except UnknownTask as exc:
            errors["task"] = [str(exc)]
    inputs = item.get("inputs", {})
    cleaned: dict[str, Any] = {}
    if not isinstance(inputs, Mapping):
        errors["inputs"] = [f"Expected an object of inputs; got {type(inputs).__name__}."]
    elif task_class is not None:
        if python:
            inputs = {
                key: _to_json(task_class.inputs.get(key), value) for key, value in inputs.items()
            }
        try:
            cleaned = task_class.clean_inputs(inputs)
        except InputErrors as exc:
            errors["inputs"] = exc.errors
        else:
            nul = {
                key: ["Text may not contain NUL (\\u0000) characters."]
                for key, value in task_class.inputs_to_json(cleaned).items()
                if _has_nul(value) or "\x00" in key
            }
            if nul:
                errors["inputs"] = nul
    if errors or task_class is None:
        raise BatchErrors(errors)
    return task_class, cleaned


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character, which PostgreSQL's jsonb refuses."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def clean_items(items: Any, *, python: bool = False) -> list[tuple[type[Task], dict[str, Any]]]:
    """Every item checked before anything starts; ``BatchErrors`` names each bad one by index."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise BatchErrors({"tasks": ["Expected a list of {'task': ..., 'inputs': {...}} objects."]})
    if not items:
        raise BatchErrors({"tasks": ["A batch needs at least one task."]})
    limit = task_api_settings.max_batch_size
    if len(items) > limit:
        raise BatchTooLarge(f"A batch holds at most {limit} tasks; got {len(items)}.")
    cleaned = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(items):
        try:
            cleaned.append(clean_item(item, python=python))
        except BatchErrors as exc:
            errors[str(index)] = exc.errors
    if errors:
        raise BatchErrors(errors)
    return cleaned


def _check_limit(owner: Mapping[str, Any], adding: int) -> None:
    limit = task_api_settings.max_running_per_user
    if limit is None or (owner.get("owner") is None and not owner.get("session_key")):
        return
    unfinished = TaskRecord.objects.filter(**owner).unfinished().count()
    if unfinished + adding > limit:
        raise LimitReached(
            f"You have {unfinished} unfinished tasks and at most {limit} are allowed; "
            f"a batch of {adding} would exceed that. Nothing was started."
        )


def _create(
    batch: TaskBatch, owner: Mapping[str, Any], items: list[tuple[type[Task], dict[str, Any]]]
) -> list[TaskRecord]:
    """The batch's new task records, in one INSERT (inside the caller's transaction)."""
    return TaskRecord.objects.bulk_create(
        TaskRecord(
            name=task_class.name, inputs=task_class.inputs_to_json(inputs), batch=batch, **owner
        )
        for task_class, inputs in items
    )


def _dispatch(
    batch: TaskBatch, records: list[TaskRecord], classes: list[type[Task]], *, withdraw: bool
) -> None:
    """Hand the committed tasks to the backend, in order.

    If the broker refuses the first one and ``withdraw`` is true, the batch and
    its tasks are removed and ``BackendUnavailable`` is raised: nothing started.
    Once some are dispatched, the rest fail at once (not one broker timeout each).
    """
    backend = get_backend()
    for index, (record, task_class) in enumerate(zip(records, classes, strict=True)):
        try:
            backend.dispatch(record, task_class)
        except BackendUnavailable as exc:
            rest = [r.pk for r in records[index:]]
            if withdraw and index == 0:
                TaskRecord.objects.filter(pk__in=rest).delete()
                batch.delete()
                raise
            logger.error("Could not dispatch %d tasks of batch %s: %s", len(rest), batch.uuid, exc)
            TaskRecord.objects.filter(pk__in=rest, status=TaskStatus.PENDING).update(
                status=TaskStatus.FAILED,
                error={"type": "BackendUnavailable", "message": str(exc)},
                finished=timezone.now(),
                seq=F("seq") + 1,
            )
            batch_notifier.changed(batch.pk)
            return
        lifecycle.send(signals.task_enqueued, record)


def _start(
    batch_owner: Mapping[str, Any],
    owner: Mapping[str, Any],
    items: list[tuple[type[Task], dict[str, Any]]],
    batch: TaskBatch | None = None,
) -> tuple[TaskBatch, list[TaskRecord]]:
    """Create the batch (unless given) and its tasks in one transaction, then dispatch them.

    Inside a caller's transaction they are dispatched when it commits.
    """
    deferred = connection.in_atomic_block
    with transaction.atomic():
        if batch is None:
            batch = TaskBatch.objects.create(**batch_owner)
        records = _create(batch, owner, items)
    classes = [task_class for task_class, _ in items]
    if deferred:
        started = batch
        transaction.on_commit(lambda: _dispatch(started, records, classes, withdraw=False))
    else:
        _dispatch(batch, records, classes, withdraw=True)
    return batch, records


def start_batch(
    items: Sequence[Mapping[str, Any]],
    *,
    user: Any = None,
    owner: Mapping[str, Any] | None = None,
    python: bool = True,
) -> TaskBatch:
    """Start ``[{"task": name or class, "inputs": {...}}, ...]`` as one batch.

    Every item is checked first (``BatchErrors`` lists each bad one); then the
    limits (``BatchTooLarge``, ``LimitReached``); then all tasks are created in
    one transaction and dispatched once it committed (``BackendUnavailable``,
    and nothing left behind, if the broker is down). Nothing starts unless all do.
    """
    if owner is None:
        owner = {"owner": user, "session_key": ""} if user is not None else current_owner()
    cleaned = clean_items(items, python=python)
    _check_limit(owner, len(cleaned))
    batch, _records = _start(owner, owner, cleaned)
    return batch


def start_child(parent: Task | None, task: Any, **inputs: Any) -> TaskRecord:
    """From a running task: start another task (a name, a class or a ``@task`` function)
    in the same batch. ``parent`` is the task class's ``self``; a ``@task`` function
    passes ``None`` and the running task is found from its context."""
    reporter = parent._reporter if parent is not None else progress._get()
    uuid = reporter.uuid if reporter is not None else None
    row = (
        TaskRecord.objects.filter(uuid=uuid).values("batch_id", "owner_id", "session_key").first()
        if uuid is not None
        else None
    )
    if row is None or row["batch_id"] is None:
        raise NotInBatch("start_child() works inside a running task that belongs to a batch.")
    batch = TaskBatch.objects.get(pk=row["batch_id"])
    limit = task_api_settings.max_batch_size
    if TaskRecord.objects.filter(batch_id=batch.pk).count() >= limit:
        raise BatchTooLarge(f"A batch holds at most {limit} tasks.")
    # The running parent counts as one of its owner's unfinished tasks.
    _check_limit({"owner": row["owner_id"], "session_key": row["session_key"]}, 1)
    try:
        item = clean_item({"task": task, "inputs": inputs}, python=True)
    except BatchErrors as exc:
        raise InputErrors(exc.errors.get("inputs", exc.errors)) from None
    owner = {"owner_id": row["owner_id"], "session_key": row["session_key"]}
    _, (record,) = _start(owner, owner, [item], batch)
    batch_notifier.changed(batch.pk)
    return record


def cancel_batch(batch: TaskBatch) -> int:
    """Cancel every unfinished task of the batch; how many were asked to stop."""
    count = 0
    for record in TaskRecord.objects.filter(batch_id=batch.pk).unfinished().order_by("id"):
        was_pending = record.status == TaskStatus.PENDING
        record = lifecycle.cancel(record)
        if was_pending and record.status == TaskStatus.CANCELLED:
            get_backend().revoke(record)
        count += 1
    return count
