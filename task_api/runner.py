"""Running one task in a worker: the same code for every backend.

``execute(uuid)`` moves the record to ``running``, calls the task's ``run``
with its inputs, checks the outputs and stores the terminal state. Progress
and messages go through a :class:`~task_api.reporting.Reporter` whose
coalesced flushes land in :class:`DatabaseSink`.

Database connections belong to the caller: Celery's Django fixup closes them
after each task in a worker (but not after an eager task, which runs in the
caller's connection and maybe its transaction), and the in-process backend
closes its threads' connections itself.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import batch_events, events, lifecycle, reporting
from .conf import task_api_settings
from .exceptions import Cancelled, TaskTimeout, UnknownTask
from .models import TaskRecord, TaskStatus
from .progress_store import store_progress
from .registry import get_runnable
from .reporting import Reporter
from .tasks import Task

logger = logging.getLogger("task_api.runner")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one execution ended."""

    status: str
    error: dict[str, str] | None = None
    retry_in: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == TaskStatus.FAILED


SKIPPED = Outcome(status="skipped")


class DatabaseSink:
    """Stores coalesced progress and publishes it; polls cancel flags and heartbeats."""

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        self._last_heartbeat = time.monotonic()

    def flush(
        self, reporter: Reporter, changes: dict[str, Any], entries: list[dict[str, Any]]
    ) -> bool:
        fields: dict[str, Any] = {"seq": reporter.seq, **changes}
        if entries:  # the reporter's lock is held during a flush
            fields["messages"] = list(reporter.entries)
        # Stored before it is published, so a snapshot is never behind an event.
        stored = store_progress(self.record.pk, self.record.attempt, fields)
        if stored:
            events.publish(
                reporter.uuid, events.update_frame(reporter.uuid, reporter.seq, changes, entries)
            )
            batch_events.changed(self.record.batch_id)
        return bool(stored)

    def poll(self, reporters: list[Reporter]) -> None:
        ids = [r.uuid for r in reporters]
        cancelled = set(
            TaskRecord.objects.filter(uuid__in=ids, cancel_requested=True).values_list(
                "uuid", flat=True
            )
        )
        for reporter in reporters:
            if reporter.uuid in cancelled:
                reporter.cancel_requested = True
        now = time.monotonic()
        if now - self._last_heartbeat >= task_api_settings.heartbeat_interval:
            self._last_heartbeat = now
            TaskRecord.objects.filter(uuid__in=ids, status=TaskStatus.RUNNING).update(
                heartbeat=timezone.now()
            )


def execute(
    uuid: Any,
    *,
    background_flush: bool = True,
    soft_time_limit: float | None = None,
    retries_done: int = 0,
) -> Outcome:
    """Run the task ``uuid`` to a terminal state, or to a retry after ``retries_done`` ones.

    A task class that is ``retry_safe`` takes over a record left ``running``
    (its message was redelivered because the worker running it died).
    """
    record = TaskRecord.objects.filter(uuid=uuid).first()
    if record is None:
        logger.warning("Task %s no longer exists; not running it", uuid)
        return SKIPPED
    try:
        task_class = get_runnable(record.name)
    except UnknownTask as exc:
        lifecycle.fail(record, "UnknownTask", str(exc), from_statuses=(TaskStatus.PENDING,))
        return Outcome(status=TaskStatus.FAILED, error={"type": "UnknownTask", "message": str(exc)})
    if not lifecycle.start(record, allow_takeover=task_class.retry_safe):
        logger.info("Task %s is %s; not running it", uuid, record.status)
        return SKIPPED
    sink = DatabaseSink(record)
    reporter = Reporter(record.uuid, sink, seq=record.seq)
    reporter.entries = list(record.messages or [])  # kept from earlier attempts
    reporter.cancel_requested = record.cancel_requested
    limit = soft_time_limit if soft_time_limit is not None else _soft_limit(task_class)
    if limit is not None:
        reporter.deadline = time.monotonic() + limit
    if background_flush:
        reporting.register(reporter)
    task = task_class()
    task._reporter = reporter
    task.attempt = record.attempt
    retries_left = max(task_class.max_retries - retries_done, 0) if task_class.retry_on else 0
    try:
        return _run(task, task_class, record, reporter, retries_left)
    finally:
        reporter.close()


def _run(
    task: Task, task_class: type[Task], record: TaskRecord, reporter: Reporter, retries_left: int
) -> Outcome:
    try:
        kwargs = task_class.inputs_from_json(record.inputs)
        result = task.run(**kwargs)
        outputs = task_class.outputs_to_json(result)
    except Cancelled:
        return _finish(
            record,
            reporter,
            TaskStatus.CANCELLED,
            {"type": "Cancelled", "message": "The task was cancelled."},
        )
    except BaseException as exc:
        if isinstance(exc, task_class.retry_on) and retries_left > 0:
            delay = task_class.retry_backoff * 2 ** (record.attempt - 1)
            return _requeue(record, reporter, exc, delay)
        if not isinstance(exc, Exception | TaskTimeout) and not _is_soft_timeout(exc):
            raise
        error = _describe(exc)
        logger.error(
            "Task %s (%s) failed: %s", record.uuid, record.name, error["message"], exc_info=exc
        )
        return _finish(
            record,
            reporter,
            TaskStatus.FAILED,
            error,
            traceback="".join(traceback.format_exception(exc)),
        )
    return _finish(record, reporter, TaskStatus.SUCCEEDED, None, outputs=outputs)


def _finish(
    record: TaskRecord,
    reporter: Reporter,
    status: TaskStatus,
    error: dict[str, str] | None,
    **fields: Any,
) -> Outcome:
    reporter.close()
    record.seq = reporter.seq
    record.cancel_requested = record.cancel_requested or reporter.cancel_requested
    fields.update(
        progress=reporter.progress,
        target=reporter.target,
        messages=list(reporter.entries),
        error=error,
    )
    if status == TaskStatus.SUCCEEDED and reporter.target is not None and reporter.progress is None:
        fields["progress"] = reporter.target
    if not lifecycle.finish(record, status, **fields):
        logger.warning(
            "Task %s was finished elsewhere (cancelled or lost); its result is dropped", record.uuid
        )
        return SKIPPED
    return Outcome(status=status, error=error)


def _requeue(record: TaskRecord, reporter: Reporter, exc: BaseException, delay: float) -> Outcome:
    reporter.close()
    record.messages = list(reporter.entries)
    entry = {
        "value": (
            f"Attempt {record.attempt} failed ({type(exc).__name__}: {exc}); "
            f"retrying in {delay:g} s."
        ),
        "level": "warning",
        "time": timezone.now().isoformat().replace("+00:00", "Z"),
    }
    lifecycle.requeue(record, entry)
    return Outcome(status=TaskStatus.PENDING, error=_describe(exc), retry_in=delay)


def _describe(exc: BaseException) -> dict[str, str]:
    if _is_soft_timeout(exc) or isinstance(exc, TaskTimeout):
        return {
            "type": "TaskTimeout",
            "message": "The task ran past its time limit and was stopped.",
        }
    return {"type": type(exc).__name__, "message": str(exc)}


def _is_soft_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ == "SoftTimeLimitExceeded"


def _soft_limit(task_class: type[Task]) -> float | None:
    return task_class.soft_time_limit or task_api_settings.soft_time_limit


def stale_cutoff() -> Any:
    """Running tasks whose heartbeat is older than this are lost."""
    return timezone.now() - timedelta(seconds=task_api_settings.stale_after)
