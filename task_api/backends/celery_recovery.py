"""Ending tasks whose Celery worker process died or ran out of time.

The worker's main process learns at once when a pool process dies
(``WorkerLostError``) or is killed at the hard time limit
(``TimeLimitExceeded``) and sends ``task_failure``: the record is failed with
a clear error then. Tasks that acknowledge late (``retry_safe``) are
requeued by Celery instead, and taken over by the next worker. As a last
resort, the main process sweeps tasks whose heartbeat stopped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery.signals import task_failure, worker_ready

from .. import lifecycle, reconnect, recovery
from ..conf import task_api_settings
from ..models import TaskRecord, TaskStatus

logger = logging.getLogger("task_api.backends.celery")

TASK_NAMES = frozenset({"task_api.run", "task_api.run_retry_safe"})


@task_failure.connect
def fail_lost_task(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **kwargs: Any
) -> None:
    """Fail the record of a task whose process died or hit its hard time limit."""
    if getattr(sender, "name", None) not in TASK_NAMES or task_id is None:
        return
    if isinstance(exception, TimeLimitExceeded):
        error_type, message = "TaskTimeout", "The task ran past its time limit and was stopped."
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


@worker_ready.connect
def start_stale_sweep(**kwargs: Any) -> None:
    """Sweep stale running tasks from the worker's main process."""
    threading.Thread(target=_sweep_forever, name="task_api-sweeper", daemon=True).start()


def _sweep_forever() -> None:
    stop = threading.Event()
    while not stop.wait(max(task_api_settings.stale_after / 2, 1.0)):
        try:
            reconnect.once_more(recovery.sweep_stale)
        except reconnect.CONNECTION_ERRORS as exc:  # the database is away: next round
            logger.warning("Could not sweep stale tasks: %s", exc)
            reconnect.drop()
        except Exception:
            logger.exception("Could not sweep stale tasks")
            reconnect.recycle()
