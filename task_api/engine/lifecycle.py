"""State transitions of task records.

Every transition is one conditional ``UPDATE`` (``WHERE status = ...``), so
concurrent actors (the worker, a cancel request, the stale-task sweep) never
overwrite each other: whoever moves the task first wins, and the others see
zero rows updated. Each transition bumps ``seq`` and publishes a frame, after its
write. A running task's worker may have published up to :data:`~task_api.protocol.AHEAD`
progress events beyond its stored ``seq`` (:mod:`task_api.engine.flusher`): a
transition of a running task by anyone else skips past them, so that its frame is
never taken for one the watchers already have.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.dispatch import Signal
from django.utils import timezone

from task_api import protocol, signals
from task_api.engine import batch_notifier, publisher, streaming
from task_api.models import TaskRecord, TaskStatus
from task_api.reporting import Written
from task_api.store import database, streams
from task_api.store.task_json import task_json

logger = logging.getLogger("task_api.engine.lifecycle")


def publish_snapshot(record: TaskRecord, *, wait: bool = False) -> None:
    """Publish the whole task, as stored, to its watchers."""
    publisher.publish(record.uuid, protocol.snapshot_frame(task_json(record)), wait=wait)
    batch_notifier.changed(record.batch_id)
    if record.is_finished:
        streaming.publish_ends(record)
        send(signals.task_finished, record)


def send(signal: Signal, record: TaskRecord) -> None:
    """Send a lifecycle signal; a failing receiver is logged, never raised."""
    for receiver, result in signal.send_robust(sender=TaskRecord, record=record):
        if isinstance(result, Exception):
            logger.error("Receiver %r of a task signal failed", receiver, exc_info=result)


def reload(uuid: Any) -> TaskRecord | None:
    """The record as stored now, or ``None`` if it is gone."""
    return TaskRecord.objects.filter(uuid=uuid).first()


def start(record: TaskRecord, *, allow_takeover: bool = False) -> bool:
    """Move a pending task to running; ``False`` if it is not ours to run (the update is
    conditional on ``record.seq`` too, so the new values are known without a read).
    Taking over a running task skips the ``seq`` its silent worker may have published."""
    now = timezone.now()
    statuses = [TaskStatus.PENDING, TaskStatus.RUNNING] if allow_takeover else [TaskStatus.PENDING]
    base = record.seq
    fields = {
        "status": TaskStatus.RUNNING,
        "started": now,
        "heartbeat": now,
        "attempt": record.attempt + 1,
        "seq": base + 1 + (protocol.AHEAD if record.status == TaskStatus.RUNNING else 0),
    }
    rows = TaskRecord.objects.filter(pk=record.pk, status__in=statuses, seq=base)
    if not rows.update(**fields):
        return False
    for key, value in fields.items():
        setattr(record, key, value)
    started = task_json(record)["started"]
    changes = {"status": record.status, "started": started, "attempt": record.attempt}
    skipped = record.seq != base + 1  # a merged frame's ``base``: it applies on ``base``
    frame = protocol.update_frame(
        record.uuid, record.seq, changes, [], base=base if skipped else None
    )
    publisher.publish(record.uuid, frame)
    batch_notifier.changed(record.batch_id)
    send(signals.task_started, record)
    return True


def finish(
    record: TaskRecord, status: TaskStatus, written: Sequence[Written] = (), **fields: Any
) -> bool:
    """Store and publish a running task's terminal state, and the stream chunks
    ``written`` since the last flush; ``False`` if it was not running.

    Only its worker writes ``seq`` while a task runs. ``cancel_requested`` only turns true:
    the update is conditional on the value the worker knows, then on the other, so the
    snapshot matches the row without a read.
    """
    fields.update(status=status, seq=record.seq + 1)
    fields.setdefault("finished", timezone.now())
    running = TaskRecord.objects.filter(
        pk=record.pk, status=TaskStatus.RUNNING, attempt=record.attempt
    )
    with transaction.atomic(using=database.alias()):
        updated = running.filter(cancel_requested=record.cancel_requested).update(**fields)
        if not updated and not record.cancel_requested:
            record.cancel_requested = True  # requested while the task was finishing
            updated = running.filter(cancel_requested=True).update(**fields)
        if updated and written:
            streams.insert(record.pk, list(written))
    if not updated:
        return False
    for key, value in fields.items():
        setattr(record, key, value)
    streaming.publish(record.uuid, list(written))
    publish_snapshot(record, wait=True)
    return True


def requeue(
    record: TaskRecord, message: dict[str, Any], written: Sequence[Written] = (), **fields: Any
) -> bool:
    """Put a running task back to pending before a retry, storing the stream chunks
    ``written`` since the last flush (the next attempt goes on after them). ``record.seq``
    is the last its worker published: the new one is above it."""
    messages = [*record.messages, message]  # repeatable: ``record`` changes only on success
    rows = TaskRecord.objects.filter(status=TaskStatus.RUNNING, attempt=record.attempt)
    fields.update(status=TaskStatus.PENDING, messages=messages, seq=record.seq + 1)
    with transaction.atomic(using=database.alias()):
        updated = rows.filter(pk=record.pk).update(**fields)
        if updated and written:
            streams.insert(record.pk, list(written))
    if updated:
        record.refresh_from_db()
        streaming.publish(record.uuid, list(written))
        publish_snapshot(record)
    return bool(updated)


def fail(
    record: TaskRecord, error_type: str, message: str, *, from_statuses: Iterable[str], **match: Any
) -> bool:
    """Fail a task in one of ``from_statuses`` (and matching ``match``): no worker runs it."""
    rows = TaskRecord.objects.filter(status__in=from_statuses, **match)
    error = {"type": error_type, "message": message}
    skip = protocol.AHEAD if TaskStatus.RUNNING in from_statuses else 0
    fields: dict[str, Any] = {
        "status": TaskStatus.FAILED,
        "error": error,
        "finished": timezone.now(),
    }
    return _update(record, rows, skip=skip, **fields)


def _update(
    record: TaskRecord, rows: QuerySet[TaskRecord], *, skip: int = 0, **fields: Any
) -> bool:
    """Update ``record`` if it is among ``rows``, bumping ``seq`` (past ``skip`` published
    beyond it); reload and publish it if so."""
    updated = rows.filter(pk=record.pk).update(seq=F("seq") + 1 + skip, **fields)
    if updated:
        record.refresh_from_db()
        publish_snapshot(record)
    return bool(updated)


def cancel(record: TaskRecord) -> TaskRecord:
    """Cancel a pending task at once, or ask a running one to stop."""
    error = {"type": "Cancelled", "message": "The task was cancelled before it started."}
    pending = TaskRecord.objects.filter(status=TaskStatus.PENDING)
    fields: dict[str, Any] = {"finished": timezone.now(), "cancel_requested": True, "error": error}
    if not _update(record, pending, status=TaskStatus.CANCELLED, **fields):
        running = TaskRecord.objects.filter(pk=record.pk, status=TaskStatus.RUNNING)
        running.update(cancel_requested=True)
        record.refresh_from_db()
    return record
