"""Starting a task: the one path every front door takes.

``POST /tasks/``, ``MyTask.enqueue(...)`` and Django's ``my_function.enqueue(...)``
(through :class:`~task_api.backends.django_tasks.TaskAPIBackend`) all call
:func:`start_task`: it checks the owner's limit and idempotency key, creates
the record, then has the engine (``TASK_API_BACKEND``) dispatch it, after the
transaction commits when there is one.

Tasks started from code belong to nobody, or to the user given by
``enqueued_by(...)``::

    with task_api.enqueued_by(request):
        result = resize.enqueue(photo_id)
"""

from __future__ import annotations

import contextlib
import logging
import uuid as uuid_lib
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, router, transaction
from django.utils import timezone

from task_api import signals
from task_api.conf import task_api_settings
from task_api.engine import lifecycle
from task_api.engine.dispatch import BackendUnavailable, get_backend
from task_api.exceptions import LimitReached, UnknownTask
from task_api.models import TaskRecord, TaskStatus
from task_api.owners import current_owner
from task_api.registry import get_task
from task_api.store import inserting
from task_api.store.counting import count_unfinished
from task_api.tasks import Task

logger = logging.getLogger("task_api.engine.service")


def find_repeat(idempotency_key: str, owner: dict[str, Any]) -> TaskRecord | None:
    """A task started with the same key by the same owner within the window."""
    if not idempotency_key:
        return None
    since = timezone.now() - timedelta(seconds=task_api_settings.idempotency_window)
    return (
        TaskRecord.objects.filter(idempotency_key=idempotency_key, created__gte=since, **owner)
        .order_by("-created")
        .first()
    )


def _forget_expired_key(idempotency_key: str, owner: dict[str, Any]) -> int:
    """Free a key whose window has passed, so that it can start a new task."""
    since = timezone.now() - timedelta(seconds=task_api_settings.idempotency_window)
    return TaskRecord.objects.filter(
        idempotency_key=idempotency_key, created__lt=since, **owner
    ).update(idempotency_key="")


def _insert_unless_repeat(
    record: TaskRecord, owner: dict[str, Any], idempotency_key: str
) -> TaskRecord | None:
    """Insert ``record``, or return the task its idempotency key already started.

    The insert comes first: a new key costs nothing more than a task without
    one. Only when the key's unique constraint (or the limit) refuses the row
    are repeats looked up, and a key whose window has passed freed for the row.
    """
    for attempt in range(2):
        try:
            # A savepoint only where a refused row would break the caller's transaction.
            in_transaction = idempotency_key and connection.in_atomic_block
            with transaction.atomic() if in_transaction else contextlib.nullcontext():
                _insert(record, owner)
            return None
        except (IntegrityError, LimitReached):
            # A repeat, perhaps of a concurrent request, answers even at the limit.
            repeat = find_repeat(idempotency_key, owner)
            if repeat is not None:
                return repeat
            if attempt or not idempotency_key or not _forget_expired_key(idempotency_key, owner):
                raise
    raise AssertionError("unreachable")


def _owner_limit(owner: dict[str, Any]) -> int | None:
    """The owner's limit of unfinished tasks; ``None`` when there is none to apply."""
    limit = task_api_settings.max_running_per_user
    if owner.get("owner") is None and not owner.get("session_key"):
        return None
    return limit


def _limit_reached(limit: int) -> LimitReached:
    return LimitReached(f"You already have {limit} unfinished tasks; wait for one to finish.")


def check_limit(owner: dict[str, Any]) -> None:
    """Raise ``LimitReached`` if the owner has too many unfinished tasks."""
    limit = _owner_limit(owner)
    if limit is not None and count_unfinished(owner, limit) >= limit:
        raise _limit_reached(limit)


def _insert(record: TaskRecord, owner: dict[str, Any]) -> None:
    """Save the new ``record`` if the owner's limit allows; raise ``LimitReached`` if not.

    On PostgreSQL and SQLite the limit's count and the ``INSERT`` are one statement.
    """
    alias = router.db_for_write(TaskRecord)
    limit = _owner_limit(owner)
    if inserting.can_insert(alias):
        if not inserting.insert_record(record, alias, limit=limit, owner=owner):
            raise _limit_reached(limit or 0)
        return
    check_limit(owner)
    record.save(force_insert=True, using=alias)


def start_task(
    task_class: type[Task],
    inputs: dict[str, Any],
    *,
    owner: dict[str, Any] | None = None,
    idempotency_key: str = "",
    run_after: datetime | None = None,
    uuid: uuid_lib.UUID | None = None,
) -> tuple[TaskRecord, bool]:
    """Create and dispatch a task; returns the record and whether it is new.

    ``owner`` holds the ownership fields (``owners.owner_fields``); ``None``
    takes those of the innermost ``enqueued_by`` block. ``uuid`` names the new
    task (a WebSocket start joins its group before it exists); a repeat keeps its own.

    Raises ``BackendUnavailable`` (and removes the record) when the broker is
    down, unless called inside a transaction, where the task is dispatched on
    commit and a dispatch failure marks it failed.
    """
    owner = current_owner() if owner is None else owner
    if owner.get("owner") is None and not owner.get("session_key"):
        idempotency_key = ""  # nobody to tell repeats apart by
    record = TaskRecord(
        name=task_class.name,
        inputs=task_class.inputs_to_json(inputs),
        idempotency_key=idempotency_key,
        run_after=run_after,
        uuid=uuid or uuid_lib.uuid4(),
        **owner,
    )
    repeat = _insert_unless_repeat(record, owner, idempotency_key)
    if repeat is not None:
        return repeat, False
    backend = get_backend()
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _dispatch_on_commit(record, task_class, run_after))
        return record, True
    try:
        backend.dispatch(record, task_class, run_after=run_after)
    except BackendUnavailable:
        TaskRecord.objects.filter(pk=record.pk, status=TaskStatus.PENDING).delete()
        raise
    if backend.runs_inline:
        record.refresh_from_db()  # the task already ran, in this request
    lifecycle.send(signals.task_enqueued, record)
    return record, True


def enqueue(task_class: type[Task], inputs: dict[str, Any], *, user: Any) -> TaskRecord:
    """``Task.enqueue``: start a registered class with JSON inputs for ``user`` (or the
    ``enqueued_by`` owner)."""
    if get_task(task_class.name) is not task_class:
        raise UnknownTask(
            f"Task class {task_class.__qualname__} is not the registered {task_class.name!r}."
        )
    owner = {"owner": user, "session_key": ""} if user is not None else None
    record, _created = start_task(task_class, task_class.clean_inputs(inputs), owner=owner)
    return record


def _dispatch_on_commit(
    record: TaskRecord, task_class: type[Task], run_after: datetime | None
) -> None:
    try:
        get_backend().dispatch(record, task_class, run_after=run_after)
    except BackendUnavailable as exc:
        logger.error("Could not dispatch task %s: %s", record.uuid, exc)
        lifecycle.fail(record, "BackendUnavailable", str(exc), from_statuses=(TaskStatus.PENDING,))


__all__ = ["LimitReached", "enqueue", "start_task"]
