"""Starting and cancelling tasks: every door (``POST /tasks/``, the WebSocket ``start``
frame, batches, ``start_child``, ``Task.enqueue``, Django's ``enqueue``) comes here.

A start cleans its inputs and inserts the records with the owner's count of unfinished tasks
in the same statement; once the rows are committed (never if the caller's transaction rolls
back), it hands each task to the engine in order and sends ``task_enqueued``. A broker that is
down raises ``BackendUnavailable`` and leaves nothing behind; after a commit, or once part of a
batch went out, the rest fail instead.
"""

from __future__ import annotations

import contextlib
import logging
import uuid as uuid_lib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from task_api import signals
from task_api.conf import task_api_settings
from task_api.engine import lifecycle, tracing
from task_api.engine.dispatch import BackendUnavailable, get_backend
from task_api.exceptions import InputErrors, LimitReached, TaskFinished, UnknownTask
from task_api.functions import is_django_task, task_class_for
from task_api.models import TaskBatch, TaskRecord, TaskStatus
from task_api.owners import current_owner
from task_api.registry import get_task
from task_api.store import database, inserting
from task_api.tasks import Task, _to_json

logger = logging.getLogger("task_api.engine.service")

#: A task class and its cleaned inputs.
Item = tuple[type[Task], dict[str, Any]]


def resolve(task: Any) -> type[Task]:
    """The task class of a registered name or class, or of any ``@task`` function."""
    if is_django_task(task):  # as Django's own enqueue() takes it
        return task_class_for(task)
    if isinstance(task, type) and issubclass(task, Task):
        if get_task(task.name) is not task:
            message = f"Task class {task.__qualname__} is not the registered {task.name!r}."
            raise UnknownTask(message)
        return task
    if not isinstance(task, str) or not task:
        raise UnknownTask(f"Expected a task name or a registered Task class; got {task!r}.")
    return get_task(task)


def clean_inputs(
    task_class: type[Task], inputs: Mapping[str, Any], *, python: bool = False
) -> dict[str, Any]:
    """The inputs as Python values; ``InputErrors`` names every bad one. ``python`` inputs
    (from code) are turned into JSON first, as ``Task.enqueue`` does."""
    if python:
        inputs = {key: _to_json(task_class.inputs.get(key), value) for key, value in inputs.items()}
    cleaned = task_class.clean_inputs(inputs)
    if unstorable := inserting.unstorable(inputs):
        raise InputErrors(unstorable)
    return cleaned


def start(
    task: Any,
    inputs: Mapping[str, Any],
    *,
    owner: Mapping[str, Any] | None = None,
    idempotency_key: str = "",
    run_after: datetime | None = None,
    uuid: uuid_lib.UUID | None = None,
) -> tuple[TaskRecord, bool]:
    """Start one task (a name, a registered class or a ``@task`` function) with JSON ``inputs``:
    its record and whether it is new. ``owner``: the ownership fields, else the innermost
    ``enqueued_by`` block's; ``uuid`` names a new task (a WebSocket start joins its group first)."""
    task_class = resolve(task)
    cleaned = clean_inputs(task_class, inputs)
    owner = _owner(owner)
    if _nobody(owner):
        idempotency_key = ""  # nobody to tell repeats apart by
    fields = {"idempotency_key": idempotency_key, "run_after": run_after}
    uuid = uuid or uuid_lib.uuid4()
    with tracing.sending([task_class.name], [uuid]) as carrier:
        record = _record(task_class, cleaned, owner, **fields, uuid=uuid, trace=carrier)
        alias = database.alias()
        if (repeat := _insert_unless_repeat(record, owner, idempotency_key, alias)) is not None:
            return repeat, False
        _dispatch_when_committed(alias, [(record, task_class)], run_after)
    return record, True


def start_many(
    items: Sequence[Item], *, owner: Mapping[str, Any] | None = None, batch: TaskBatch | None = None
) -> tuple[TaskBatch, list[TaskRecord]]:
    """Start cleaned items as a new batch of ``owner``, or into ``batch`` (children):
    all of them or none."""
    owner = _owner(owner)
    alias = database.alias()
    new_batch = batch is None
    uuids = [uuid_lib.uuid4() for _ in items]
    with tracing.sending([task_class.name for task_class, _ in items], uuids) as carrier:
        with transaction.atomic(using=alias):
            if batch is None:
                batch = TaskBatch.objects.db_manager(alias).create(**owner)
            records = [
                _record(task_class, inputs, owner, batch=batch, uuid=uuid, trace=carrier)
                for (task_class, inputs), uuid in zip(items, uuids, strict=True)
            ]
            _insert(records, owner)
        started = [(r, task_class) for r, (task_class, _) in zip(records, items, strict=True)]
        _dispatch_when_committed(alias, started, None, batch if new_batch else None)
    return batch, records


def enqueue(task_class: type[Task], inputs: dict[str, Any], *, user: Any) -> TaskRecord:
    """``Task.enqueue``: start a registered class with JSON inputs for ``user`` (or the
    ``enqueued_by`` owner)."""
    owner = {"owner": user, "session_key": ""} if user is not None else None
    return start(task_class, inputs, owner=owner)[0]


def cancel(record: TaskRecord) -> TaskRecord:
    """Cancel a pending task at once, or ask a running one to stop; ``TaskFinished`` if it
    already ended."""
    if record.is_finished:
        status = record.status
        raise TaskFinished(f"Task {str(record.uuid)!r} already finished with status {status!r}.")
    return _cancel(record)


def cancel_batch(batch: TaskBatch) -> int:
    """Cancel every unfinished task of the batch; how many were asked to stop."""
    unfinished = TaskRecord.objects.filter(batch_id=batch.pk).unfinished().order_by("id")
    return len([_cancel(record) for record in unfinished])


def _cancel(record: TaskRecord) -> TaskRecord:
    """Cancel, and withdraw from the engine's queue a task that had not started."""
    was_pending = record.status == TaskStatus.PENDING
    record = lifecycle.cancel(record)
    if was_pending and record.status == TaskStatus.CANCELLED:
        get_backend().revoke(record)
    return record


def _owner(owner: Mapping[str, Any] | None) -> dict[str, Any]:
    return current_owner() if owner is None else dict(owner)


def _nobody(owner: Mapping[str, Any]) -> bool:
    return owner.get("owner") is None and not owner.get("session_key")


def _record(
    task_class: type[Task], inputs: dict[str, Any], owner: Mapping[str, Any], **fields: Any
) -> TaskRecord:
    inputs = task_class.inputs_to_json(inputs)
    return TaskRecord(name=task_class.name, inputs=inputs, **owner, **fields)


def _insert(records: list[TaskRecord], owner: Mapping[str, Any]) -> None:
    """Insert the records if the owner's limit allows them all; ``LimitReached`` if not."""
    limit = None if _nobody(owner) else task_api_settings.max_running_per_user
    if inserting.insert(records, owner=owner, limit=limit):
        return
    assert limit is not None
    if len(records) == 1:
        raise LimitReached(f"You already have {limit} unfinished tasks; wait for one to finish.")
    unfinished = inserting.count_unfinished(owner, limit)
    raise LimitReached(
        f"You have {unfinished} unfinished tasks and at most {limit} are allowed; "
        f"a batch of {len(records)} would exceed that. Nothing was started."
    )


def _insert_unless_repeat(
    record: TaskRecord, owner: Mapping[str, Any], idempotency_key: str, alias: str
) -> TaskRecord | None:
    """Insert ``record``, or return the task its idempotency key already started.

    The insert comes first: a new key costs nothing more than a task without
    one. Only when the key's unique constraint (or the limit) refuses the row
    are repeats looked up, and a key whose window has passed freed for the row.
    """
    for attempt in range(2):
        try:
            # A savepoint only where a refused row would break the caller's transaction.
            in_transaction = idempotency_key and connections[alias].in_atomic_block
            with transaction.atomic(using=alias) if in_transaction else contextlib.nullcontext():
                _insert([record], owner)
            return None
        except (IntegrityError, LimitReached):
            if not idempotency_key:
                raise
            # A repeat, perhaps of a concurrent request, answers even at the limit.
            keyed = TaskRecord.objects.filter(idempotency_key=idempotency_key, **owner)
            since = timezone.now() - timedelta(seconds=task_api_settings.idempotency_window)
            repeat = keyed.filter(created__gte=since).order_by("-created").first()
            if repeat is not None:
                return repeat
            if attempt or not keyed.filter(created__lt=since).update(idempotency_key=""):
                raise
    raise AssertionError("unreachable")


Started = list[tuple[TaskRecord, type[Task]]]


def _dispatch_when_committed(
    alias: str, started: Started, run_after: datetime | None, new_batch: TaskBatch | None = None
) -> None:
    """Dispatch now, or when the caller's transaction commits (never if it rolls back)."""
    if connections[alias].in_atomic_block:
        transaction.on_commit(lambda: _dispatch(started, run_after), using=alias)
    else:
        _dispatch(started, run_after, withdraw=True, new_batch=new_batch)


def _dispatch(
    started: Started,
    run_after: datetime | None,
    *,
    withdraw: bool = False,
    new_batch: TaskBatch | None = None,
) -> None:
    """Hand the committed tasks to the engine in order, each followed by ``task_enqueued``.

    If the broker refuses the first one and ``withdraw`` is true, the tasks (and
    ``new_batch``) are removed and ``BackendUnavailable`` is raised: nothing
    started. Otherwise the rest fail at once (not one broker timeout each).
    """
    backend = get_backend()
    for index, (record, task_class) in enumerate(started):
        try:
            backend.dispatch(record, task_class, run_after=run_after)
        except BackendUnavailable as exc:
            rest = [record for record, _ in started[index:]]
            if withdraw and index == 0:
                pks = [r.pk for r in rest]
                TaskRecord.objects.filter(pk__in=pks, status=TaskStatus.PENDING).delete()
                if new_batch is not None:
                    new_batch.delete()
                raise
            logger.error("Could not dispatch %d tasks: %s", len(rest), exc)
            for failed in rest:
                lifecycle.fail(
                    failed, "BackendUnavailable", str(exc), from_statuses=(TaskStatus.PENDING,)
                )
            return
        if backend.runs_inline:
            record.refresh_from_db()  # the task already ran
        lifecycle.send(signals.task_enqueued, record)
