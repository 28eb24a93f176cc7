"""Batches from Python and REST: their items checked, then started by the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from task_api import progress
from task_api.conf import task_api_settings
from task_api.engine import batch_notifier, service
from task_api.exceptions import BatchErrors, BatchTooLarge, InputErrors, NotInBatch, UnknownTask
from task_api.models import TaskBatch, TaskRecord
from task_api.tasks import Task


def clean_item(item: Any, *, python: bool = False) -> service.Item:
    """One ``{"task": ..., "inputs": {...}}`` checked; ``BatchErrors`` keyed by field."""
    if not isinstance(item, Mapping):
        raise BatchErrors({"non_field_errors": ["Expected an object with 'task' and 'inputs'."]})
    errors: dict[str, Any] = {
        str(key): [f"Unexpected field {key!r}; items have 'task' and 'inputs'."]
        for key in item
        if key not in ("task", "inputs")
    }
    task_class: type[Task] | None = None
    if "task" not in item:
        errors["task"] = ["This field is required."]
    else:
        try:
            task_class = service.resolve(item["task"])
        except UnknownTask as exc:
            errors["task"] = [str(exc)]
    inputs = item.get("inputs", {})
    cleaned: dict[str, Any] = {}
    if not isinstance(inputs, Mapping):
        errors["inputs"] = [f"Expected an object of inputs; got {type(inputs).__name__}."]
    elif task_class is not None:
        try:
            cleaned = service.clean_inputs(task_class, inputs, python=python)
        except InputErrors as exc:
            errors["inputs"] = exc.errors
    if errors or task_class is None:
        raise BatchErrors(errors)
    return task_class, cleaned


def clean_items(items: Any, *, python: bool = False) -> list[service.Item]:
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


def start_batch(
    items: Sequence[Mapping[str, Any]],
    *,
    user: Any = None,
    owner: Mapping[str, Any] | None = None,
    python: bool = True,
) -> TaskBatch:
    """Start ``[{"task": name, class or @task function, "inputs": {...}}, ...]`` as one batch:
    every item is checked first (``BatchErrors``), then nothing starts unless all do."""
    if owner is None and user is not None:
        owner = {"owner": user, "session_key": ""}
    return service.start_many(clean_items(items, python=python), owner=owner)[0]


def start_child(parent: Task | None, task: Any, **inputs: Any) -> TaskRecord:
    """From a running task: start another task (a name, a class or a ``@task`` function)
    in the same batch, for the same owner. ``parent`` is the task class's ``self``; a
    ``@task`` function passes ``None`` and the running task is found from its context."""
    reporter = parent._reporter if parent is not None else progress._get()
    uuid = reporter.uuid if reporter is not None else None
    records = TaskRecord.objects.select_related("owner", "batch")
    running = records.filter(uuid=uuid).first() if uuid is not None else None
    if running is None or running.batch is None:
        raise NotInBatch("start_child() works inside a running task that belongs to a batch.")
    limit = task_api_settings.max_batch_size
    if TaskRecord.objects.filter(batch_id=running.batch_id).count() >= limit:
        raise BatchTooLarge(f"A batch holds at most {limit} tasks.")
    task_class = service.resolve(task)
    item = (task_class, service.clean_inputs(task_class, inputs, python=True))
    # The running parent counts as one of its owner's unfinished tasks.
    owner = {"owner": running.owner, "session_key": running.session_key}
    _, (record,) = service.start_many([item], owner=owner, batch=running.batch)
    batch_notifier.changed(running.batch_id)
    return record
