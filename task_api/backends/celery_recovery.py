"""Ending tasks whose Celery worker process died or ran out of time.

The worker's main process sends ``task_failure`` as soon as a pool process dies
(``WorkerLostError``) or is killed at the hard time limit (``TimeLimitExceeded``):
the record is failed then. Celery requeues ``retry_safe`` tasks instead. As a
last resort, the main process sweeps tasks whose heartbeat stopped.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery.signals import (
    task_failure,
    task_received,
    worker_process_shutdown,
    worker_shutting_down,
)

from task_api.engine import lifecycle, reconnect, recovery, runner, runtime
from task_api.models import TaskRecord, TaskStatus

logger = logging.getLogger("task_api.backends.celery")

TASK_NAMES = frozenset({"task_api.run", "task_api.run_retry_safe"})


def survive_pool_reregistration() -> None:
    """Let a prefork worker survive a broker reconnection after pool processes died.

    Celery sets an exited pool process's ``_sentinel_poll`` to ``None``, which a reconnection
    passes to ``hub.add_reader``, stopping the worker (celery/celery#9250, celery/kombu#1649).
    """
    try:
        from celery.concurrency.asynpool import AsynPool
    except ImportError:  # pragma: no cover  (no prefork support on this platform)
        return
    original = getattr(AsynPool, "_track_child_process", None)
    if original is None or getattr(original, "_task_api", False):
        return

    def track(self: Any, proc: Any, hub: Any) -> None:
        if getattr(proc, "_sentinel_poll", 0) is None:
            del proc._sentinel_poll  # untracked earlier
            if proc._popen is None or proc.exitcode is not None:
                return  # it exited: maintain_pool cleans it up and starts another
        original(self, proc, hub)

    track._task_api = True  # type: ignore[attr-defined]
    setattr(AsynPool, "_track_child_process", track)  # noqa: B010  (unknown to the stubs)


@task_failure.connect
def fail_lost_task(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **kwargs: Any
) -> None:
    """Fail the record of a task whose process died or hit its hard time limit."""
    if getattr(sender, "name", None) not in TASK_NAMES or task_id is None:
        return
    if isinstance(exception, TimeLimitExceeded):
        error_type, message = "TaskTimeout", runner.TIMEOUT_MESSAGE
    elif isinstance(exception, WorkerLostError):
        error_type, message = "WorkerLost", recovery.LOST_MESSAGE
    else:
        return

    def fail() -> bool:
        record = TaskRecord.objects.filter(uuid=task_id).first()
        return record is not None and lifecycle.fail(
            record, error_type, message, from_statuses=(TaskStatus.PENDING, TaskStatus.RUNNING)
        )

    try:
        failed = reconnect.once_more(fail)
    except Exception:  # the stale sweep fails it later
        logger.exception("Could not fail task %s: %s", task_id, message)
        return
    if failed:
        logger.warning("Task %s failed: %s", task_id, message)


SHUTDOWN_MESSAGE = "The worker was shut down before the task finished."


#: The latest requests of ``task_api.run`` this worker received: by the end of
#: a cold shutdown, Celery has forgotten the ones it stopped.
_received: OrderedDict[str, Any] = OrderedDict()
_RECEIVED_KEPT = 10_000


@worker_process_shutdown.connect
def stop_runtime(**kwargs: Any) -> None:
    """Stop the runtime (it sends the queued events) as a pool process exits, skipping atexit."""
    runtime.stop()


@task_received.connect
def note_request(request: Any = None, **kwargs: Any) -> None:
    """Remember a request of ``task_api.run`` received by this worker."""
    if request is not None and request.name == "task_api.run":
        _received[request.id] = request
        while len(_received) > _RECEIVED_KEPT:
            _received.popitem(last=False)


@worker_shutting_down.connect
def fail_interrupted_tasks(how: str = "", **kwargs: Any) -> None:
    """Fail the tasks a worker stopped in a cold shutdown (sent once Celery's cold shutdown
    handler is done; a warm one waits for the tasks, and ``retry_safe`` ones run again on
    the next worker, which takes their records over)."""
    if how != "Cold":
        return
    # Started here, in the attempt the record shows (a retry may run elsewhere).
    started = {
        task_id: int(request.request_dict.get("retries") or 0) + 1
        for task_id, request in list(_received.items())
        if request.time_start is not None
    }
    if not started:
        return

    def fail() -> int:
        statuses = (TaskStatus.RUNNING,)
        running = TaskRecord.objects.filter(uuid__in=list(started), status__in=statuses)
        return sum(
            lifecycle.fail(record, "WorkerLost", SHUTDOWN_MESSAGE, from_statuses=statuses)
            for record in running
            if record.attempt == started.get(str(record.uuid))
        )

    try:
        count = reconnect.once_more(fail)
    except Exception:  # the stale sweep of another worker fails them later
        logger.exception("Could not fail the tasks stopped by the shutdown")
        return
    if count:
        logger.warning("Failed %d tasks stopped by the worker's shutdown", count)
