"""Runs tasks on Celery workers (the default backend).

``task_api.run`` acknowledges its message when it starts (a task whose worker
dies is failed as lost); ``task_api.run_retry_safe``, for ``retry_safe`` task
classes, at the end, so that it is redelivered if its worker dies.
``task_api.purge`` removes old finished tasks (for celery beat).

When the broker connection drops, Celery forgets the messages it had prefetched
(Redis hands them out again only after ``visibility_timeout``), so after each
reconnection the worker's main process sends every pending task again (a duplicate
finds its task started and does nothing), and sweeps stale tasks.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import datetime
from typing import Any

from celery import Celery, shared_task
from celery import Task as CeleryTask
from celery.backends.base import DisabledBackend
from celery.result import AsyncResult
from celery.signals import worker_ready
from django.utils import timezone

from task_api.backends import celery_recovery
from task_api.conf import task_api_settings
from task_api.engine import reconnect, recovery, retention, runner, runtime
from task_api.engine.dispatch import BackendUnavailable, BaseBackend
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_runnable
from task_api.tasks import Task

logger = logging.getLogger("task_api.backends.celery")

PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}


class TaskFailed(Exception):
    """Raised to Celery so it records the failure; the record holds the details."""


@functools.cache
def _no_results(app: Celery) -> DisabledBackend:
    return DisabledBackend(app=app)


class ResultlessTask(CeleryTask):  # type: ignore[type-arg]
    """A Celery task that never stores its result, whose ``apply_async`` handle has no result
    backend (Celery builds one per thread, and Django serves each ASGI request in a thread
    of its own: building a Redis result backend costs more than the rest of the publish)."""

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult[Any]:
        app = self.app
        result: AsyncResult[Any] = app.AsyncResult(
            task_id, backend=_no_results(app), task_name=self.name, **kwargs
        )
        return result


def _run(celery_task: CeleryTask[Any, Any], uuid: str) -> str:
    request = celery_task.request
    outcome = runner.execute(
        uuid, background_flush=not request.is_eager, retries_done=request.retries or 0
    )
    if outcome.retry_in is not None:
        raise celery_task.retry(countdown=outcome.retry_in, max_retries=None)
    if outcome.status == TaskStatus.FAILED and outcome.error is not None:
        raise TaskFailed(f"{outcome.error['type']}: {outcome.error['message']}")
    return str(outcome.status)


@shared_task(
    name="task_api.run", bind=True, base=ResultlessTask, acks_late=False, ignore_result=True
)
def run_task(self: CeleryTask[Any, Any], uuid: str) -> str:
    """Run a task record; the message is acknowledged on start."""
    return _run(self, uuid)


@shared_task(
    name="task_api.run_retry_safe",
    bind=True,
    base=ResultlessTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_retry_safe_task(self: CeleryTask[Any, Any], uuid: str) -> str:
    """Run a task record that may run again if its worker dies."""
    return _run(self, uuid)


class CeleryBackend(BaseBackend):
    """Sends each task to Celery, with the task class's time limits."""

    supports_defer = True

    @property
    def runs_inline(self) -> bool:
        return bool(run_task.app.conf.task_always_eager)

    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        celery_task = run_retry_safe_task if task_class.retry_safe else run_task
        options: dict[str, Any] = {"task_id": str(record.uuid)}
        if run_after is not None:
            options["eta"] = run_after
        hard = task_class.time_limit or task_api_settings.time_limit
        soft = task_class.soft_time_limit or task_api_settings.soft_time_limit
        if hard is not None:
            # The soft limit must come first, or the task gets no chance to end cleanly.
            options["time_limit"] = hard
            options["soft_time_limit"] = min(soft, hard * 0.9) if soft is not None else hard * 0.9
        elif soft is not None:
            options["soft_time_limit"] = soft
        if task_api_settings.celery_queue:
            options["queue"] = task_api_settings.celery_queue
        try:
            celery_task.apply_async(
                args=(str(record.uuid),), retry=True, retry_policy=PUBLISH_RETRY_POLICY, **options
            )
        except Exception as exc:
            if celery_task.app.conf.task_always_eager:
                raise
            raise BackendUnavailable(f"Could not reach the task broker: {exc}") from exc

    def revoke(self, record: TaskRecord) -> None:
        try:
            run_task.app.control.revoke(str(record.uuid))
        except Exception as exc:
            logger.warning("Could not revoke task %s: %r", record.uuid, exc)

    def check_broker(self, timeout: float) -> bool:
        """Connect to the broker once, without retrying (eager mode has no broker)."""
        app = run_task.app
        if app.conf.task_always_eager:
            return False
        with app.connection_for_write(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=0)
        return True

    def count_workers(self, timeout: float) -> int:
        """The workers that consume the tasks' queue and answer an ``active_queues`` inspection
        within ``timeout`` seconds (its whole length: replies are collected until then)."""
        app = run_task.app
        if app.conf.task_always_eager:
            return 1  # the caller runs its tasks
        queue = self.queue()
        with app.connection_for_write() as connection:
            inspect = app.control.inspect(timeout=timeout, connection=connection)
            replies = inspect.active_queues() or {}
        return sum(any(q.get("name") == queue for q in queues or ()) for queues in replies.values())

    @staticmethod
    def queue() -> str:
        """The name of the queue the tasks are sent to."""
        if task_api_settings.celery_queue:
            return task_api_settings.celery_queue
        app = run_task.app
        try:
            return str(app.amqp.router.route({}, run_task.name)["queue"].name)
        except Exception:
            return str(app.conf.task_default_queue)


@shared_task(name="task_api.purge", ignore_result=True)
def purge() -> int:
    """Periodic task (for celery beat): remove finished tasks older than ``TASK_API_RETENTION``."""
    return retention.purge_finished(task_api_settings.retention)[0]


@worker_ready.connect
def start_stale_sweep(sender: Any = None, **kwargs: Any) -> None:
    """Sweep stale tasks, and resend pending ones after a reconnection, from the main process."""
    celery_recovery.survive_pool_reregistration()
    runtime.get(Sweeper).start(sender)


class Sweeper(runtime.Worker):
    """The thread of a worker's main process that sweeps and resends."""

    stop_order = 1
    thread_name = "task_api-sweeper"

    def _run(self, consumer: Any) -> None:
        connection = getattr(consumer, "connection", None)
        next_sweep = time.monotonic()
        while not self._wakeup.wait(1.0):
            current = getattr(consumer, "connection", None)
            if current is not None and current is not connection:
                connection = current
                _guarded(resend_pending, "resend pending tasks")
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + max(task_api_settings.stale_after / 2, 1.0)
                _guarded(recovery.sweep_stale, "sweep stale tasks")


def _guarded(work: Any, what: str) -> None:
    try:
        reconnect.once_more(work)
    except reconnect.CONNECTION_ERRORS as exc:  # the database is away: next round
        logger.warning("Could not %s: %s", what, exc)
        reconnect.drop()
    except Exception:
        logger.exception("Could not %s", what)
        reconnect.recycle()


def resend_pending() -> int:
    """Send again the messages of pending tasks queued before now; returns how many."""
    backend = CeleryBackend()
    count = 0
    pending = TaskRecord.objects.filter(status=TaskStatus.PENDING, created__lt=timezone.now())
    for record in pending.order_by("created"):
        try:
            task_class = get_runnable(record.name)
        except Exception:  # unknown here: the run fails it cleanly
            continue
        backend.dispatch(record, task_class, run_after=record.run_after)
        count += 1
    if count:
        logger.warning("Broker connection restored: sent %d pending tasks again", count)
    return count
