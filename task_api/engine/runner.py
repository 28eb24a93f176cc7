"""Running one task in a worker: the same code for every backend.

Database connections belong to the caller (Celery's Django fixup, the in-process
threads; an eager task runs in its caller's). The start and the final write are
retried while the database is away (``TASK_API_DB_RETRY_FOR``), so a finished
task keeps its real outcome.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from task_api.conf import task_api_settings
from task_api.engine import flusher, lifecycle, reconnect, tracing
from task_api.exceptions import Cancelled, TaskTimeout, UnknownTask
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_runnable
from task_api.reporting import Reporter, ReportSink, Written, now_iso
from task_api.store import streams
from task_api.tasks import Task

logger = logging.getLogger("task_api.engine.runner")

TIMEOUT_MESSAGE = "The task ran past its time limit and was stopped."


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one execution ended."""

    status: str
    error: dict[str, str] | None = None
    retry_in: float | None = None


SKIPPED = Outcome(status="skipped")


def execute(
    uuid: Any,
    *,
    background_flush: bool = True,
    retries_done: int = 0,
    sink: ReportSink | None = None,
) -> Outcome:
    """Run the task ``uuid`` to a terminal state, or to a retry after ``retries_done`` ones.

    Progress goes to ``sink`` (default: the database and the watchers). A ``retry_safe``
    task takes over a record left ``running`` once its heartbeat has stopped.
    """
    record = reconnect.retrying(lambda: lifecycle.reload(uuid), f"reading task {uuid}")
    if record is None:
        logger.warning("Task %s no longer exists; not running it", uuid)
        return SKIPPED
    try:
        task_class = get_runnable(record.name)
    except UnknownTask as exc:
        reason = str(exc)
        reconnect.retrying(
            lambda: lifecycle.fail(
                record, "UnknownTask", reason, from_statuses=(TaskStatus.PENDING,)
            ),
            f"failing task {uuid}",
        )
        return Outcome(status=TaskStatus.FAILED, error={"type": "UnknownTask", "message": reason})
    if record.status == TaskStatus.RUNNING and task_class.retry_safe and not _silent(record):
        logger.info("Task %s is running elsewhere; not running it again", uuid)
        return SKIPPED
    started = reconnect.retrying(
        lambda: lifecycle.start(record, allow_takeover=task_class.retry_safe),
        f"starting task {uuid}",
    )
    if not started:
        logger.info("Task %s is %s; not running it", uuid, record.status)
        return SKIPPED
    reporter = Reporter(record.uuid, sink or flusher.DatabaseSink(record), seq=record.seq)
    reporter.entries = list(record.messages or [])  # kept from earlier attempts
    if record.streams:
        sizes = reconnect.retrying(lambda: streams.sizes(record.pk), f"reading task {uuid}")
        reporter.resume_streams(record.streams, sizes)
    reporter.cancel_requested = record.cancel_requested
    limit = task_class.soft_time_limit or task_api_settings.soft_time_limit
    if limit is not None:
        reporter.deadline = time.monotonic() + limit
    if background_flush:
        flusher.register(reporter)
    task = task_class()
    task._reporter = reporter
    task.attempt = record.attempt
    retries_left = max(task_class.max_retries - retries_done, 0) if task_class.retry_on else 0
    try:
        with tracing.processing(record) as span:
            outcome = _run(task, task_class, record, reporter, retries_left)
            tracing.ended(span, outcome.status, outcome.error, reporter)
            return outcome
    finally:
        reporter.close()


def _silent(record: TaskRecord) -> bool:
    """Whether the running ``record``'s worker is gone: no heartbeat for two intervals
    (a message sent twice, after a broker restart, must not run the task twice at once)."""
    window = 2 * task_api_settings.heartbeat_interval
    if record.heartbeat is None or record.heartbeat < timezone.now() - timedelta(seconds=window):
        return True
    uuid, seen = record.uuid, (record.attempt, record.heartbeat, record.seq)
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        time.sleep(min(0.5, window))
        now = reconnect.retrying(lambda: lifecycle.reload(uuid), f"reading task {uuid}")
        if now is None or now.status != TaskStatus.RUNNING:
            return False
        if (now.attempt, now.heartbeat, now.seq) != seen:
            return False  # it beat or progressed: its worker lives
    return True


def _run(
    task: Task, task_class: type[Task], record: TaskRecord, reporter: Reporter, retries_left: int
) -> Outcome:
    try:
        kwargs = task_class.inputs_from_json(record.inputs)
        result = task.run(**kwargs)
        outputs = task_class.outputs_to_json(result)
    except Cancelled:
        if reporter.stop_reason:  # the process stops, not a cancel
            error = {"type": "WorkerLost", "message": reporter.stop_reason}
            return _finish(record, reporter, TaskStatus.FAILED, error)
        error = {"type": "Cancelled", "message": "The task was cancelled."}
        return _finish(record, reporter, TaskStatus.CANCELLED, error)
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
        trace = "".join(traceback.format_exception(exc))
        return _finish(record, reporter, TaskStatus.FAILED, error, traceback=trace)
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
    asked = reporter.cancel_requested and not reporter.stop_reason
    record.cancel_requested = record.cancel_requested or asked
    # A task that succeeded without reporting progress is complete.
    full = status == TaskStatus.SUCCEEDED and reporter.progress is None
    fields.update(progress=reporter.target if full else reporter.progress, target=reporter.target)
    fields.update(messages=list(reporter.entries), error=error)
    written = _take_written(reporter, fields)
    stored = reconnect.retrying(
        lambda: lifecycle.finish(record, status, written, **fields),
        f"storing the outcome of {record.uuid}",
    )
    if not stored and not _stored_before(record, status):
        logger.warning(
            "Task %s was finished elsewhere (cancelled or lost); its result is dropped", record.uuid
        )
        return SKIPPED
    return Outcome(status=status, error=error)


def _requeue(record: TaskRecord, reporter: Reporter, exc: BaseException, delay: float) -> Outcome:
    reporter.close()
    record.seq = reporter.seq  # what its watchers may have: the requeue goes on from there
    record.messages = list(reporter.entries)
    failed = f"Attempt {record.attempt} failed ({type(exc).__name__}: {exc})"
    entry = {"value": f"{failed}; retrying in {delay:g} s.", "level": "warning", "time": now_iso()}
    fields: dict[str, Any] = {}
    written = _take_written(reporter, fields)
    reconnect.retrying(
        lambda: lifecycle.requeue(record, entry, written, **fields),
        f"requeueing task {record.uuid}",
    )
    return Outcome(status=TaskStatus.PENDING, error=_describe(exc), retry_in=delay)


def _take_written(reporter: Reporter, fields: dict[str, Any]) -> list[Written]:
    """The stream chunks not flushed yet, for the last write (with the streams' lengths)."""
    if not reporter.streams:
        return []
    written = reporter.take_written()
    fields["streams"] = reporter.stream_lengths()
    return written


def _stored_before(record: TaskRecord, status: TaskStatus) -> bool:
    """Whether our final write got through although its answer was lost with the connection."""
    stored = reconnect.retrying(lambda: lifecycle.reload(record.uuid), f"reading {record.uuid}")
    expected = (record.attempt, record.seq + 1, status)
    if stored is None or (stored.attempt, stored.seq, stored.status) != expected:
        return False
    lifecycle.publish_snapshot(stored, wait=True)
    return True


def _describe(exc: BaseException) -> dict[str, str]:
    if _is_soft_timeout(exc) or isinstance(exc, TaskTimeout):
        return {"type": "TaskTimeout", "message": TIMEOUT_MESSAGE}
    return {"type": type(exc).__name__, "message": str(exc)}


def _is_soft_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ == "SoftTimeLimitExceeded"
