"""Runs tasks on Procrastinate workers: PostgreSQL is the queue, no broker.

Each start defers a ``task_api.run`` job (``procrastinate.contrib.django``, in the
``PROCRASTINATE_DATABASE_ALIAS`` database); a worker (``manage.py procrastinate worker``)
picks it up at once through ``LISTEN``/``NOTIFY`` and runs the record in a thread of
its own with :func:`task_api.engine.runner.execute`. A task's retries are the job's
retries (Procrastinate's retry decision, with the delay the runner chose). Time limits
are soft only, checked at the task's progress calls: Procrastinate cannot kill a thread.

A worker that loses the database (a PostgreSQL restart) stops once its running tasks stored
their outcome, for its supervisor to start it again; :func:`on_app_ready`
(``PROCRASTINATE_ON_APP_READY``) makes its pool wait at most ``WORKER_POOL_TIMEOUT`` seconds
for a connection (30 by default), so that it does not linger half a minute on a job status
it cannot store, taking no jobs.

A worker that dies leaves its tasks running without a heartbeat: the periodic job
``task_api.sweep``, every ``TASK_API_STALE_AFTER / 2`` seconds (one at a time, on any
worker), fails them as lost, and marks their jobs failed. A worker asked to stop
(``SIGTERM``) takes no more jobs and waits for the running ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from procrastinate import App, BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.connector import BaseAsyncConnector
from procrastinate.contrib.django import app
from procrastinate.jobs import Job, Status

from task_api.conf import task_api_settings
from task_api.engine import reconnect, recovery, retention, runner
from task_api.engine.dispatch import BackendUnavailable, BaseBackend
from task_api.models import TaskRecord, TaskStatus
from task_api.tasks import Task

logger = logging.getLogger("task_api.backends.procrastinate")

RUN = "task_api.run"
SWEEP = "task_api.sweep"
PENDING_JOBS = (
    "SELECT id FROM procrastinate_jobs"
    " WHERE task_name = %(task)s AND status = 'todo' AND args ->> 'uuid' = %(uuid)s"
)


WORKER_POOL_TIMEOUT = 5.0


def on_app_ready(ready_app: App) -> None:
    """``PROCRASTINATE_ON_APP_READY``: give ``manage.py procrastinate worker`` a pool that
    waits at most ``WORKER_POOL_TIMEOUT`` seconds for a connection."""
    connector = ready_app.connector
    make = getattr(connector, "get_worker_connector", None)
    if make is not None:
        connector.get_worker_connector = _with_short_timeout(make)  # type: ignore[attr-defined]


def _with_short_timeout(
    make: Callable[[], BaseAsyncConnector],
) -> Callable[[], BaseAsyncConnector]:
    def make_worker_connector() -> BaseAsyncConnector:
        worker_connector = make()
        pool_args = getattr(worker_connector, "_pool_args", None)
        if isinstance(pool_args, dict):  # a PsycopgConnector's pool arguments
            pool_args.setdefault("timeout", WORKER_POOL_TIMEOUT)
        return worker_connector

    return make_worker_connector


class TaskFailed(Exception):
    """Raised to Procrastinate so that the job shows the failure; the record holds the details."""


class RetryLater(Exception):
    """Raised to Procrastinate to run the job again in ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retrying in {delay:g} s")
        self.delay = delay


class RunnerRetry(BaseRetryStrategy):
    """Retries a job when the runner asked for it, after the runner's delay."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, RetryLater):
            return None
        return RetryDecision(retry_in={"milliseconds": round(exception.delay * 1000)})


@app.task(name=RUN, pass_context=True, retry=RunnerRetry())
def run_task(context: JobContext, uuid: str) -> str:
    """Run a task record in a worker thread; its retries are the job's."""
    close_old_connections()
    try:
        outcome = runner.execute(uuid, retries_done=context.job.attempts)
    finally:
        close_old_connections()
    if outcome.retry_in is not None:
        raise RetryLater(outcome.retry_in)
    if outcome.status == TaskStatus.FAILED and outcome.error is not None:
        raise TaskFailed(f"{outcome.error['type']}: {outcome.error['message']}")
    return str(outcome.status)


def sweep_interval() -> int:
    """Seconds between two sweeps: half the stale window, 1 to 30 (a cron's seconds)."""
    return max(1, min(30, int(task_api_settings.stale_after / 2)))


@app.periodic(cron=f"* * * * * */{sweep_interval()}", periodic_id=SWEEP)
@app.task(name=SWEEP, queueing_lock=SWEEP)
async def sweep(timestamp: int) -> int:
    """Fail the tasks whose worker died, and mark the jobs such workers left failed."""
    failed = await sync_to_async(_sweep_records, thread_sensitive=False)()
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=RUN, seconds_since_heartbeat=task_api_settings.stale_after
    )
    for job in stalled:
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
    return failed


def _sweep_records() -> int:
    try:
        return int(reconnect.once_more(recovery.sweep_stale))
    except reconnect.CONNECTION_ERRORS as exc:  # the database is away: next round
        logger.warning("Could not sweep stale tasks: %s", exc)
        reconnect.drop()
        return 0
    finally:
        close_old_connections()


@app.task(name="task_api.purge")
def purge() -> int:
    """Remove finished tasks older than ``TASK_API_RETENTION`` (schedule it with
    ``app.periodic`` in the project, as Celery's ``task_api.purge`` with beat)."""
    return retention.purge_finished(task_api_settings.retention)[0]


class ProcrastinateBackend(BaseBackend):
    """Defers each task as a Procrastinate job in PostgreSQL."""

    supports_defer = True

    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        options: dict[str, Any] = {}
        if run_after is not None:
            options["schedule_at"] = run_after
        try:
            run_task.configure(**options).defer(uuid=str(record.uuid))
        except Exception as exc:
            raise BackendUnavailable(f"Could not queue the task: {exc}") from exc

    def revoke(self, record: TaskRecord) -> None:
        """Delete the job of a task cancelled before it started (it would only skip it)."""
        try:
            connector = app.connector.get_sync_connector()
            for row in connector.execute_query_all(
                query=PENDING_JOBS, task=RUN, uuid=str(record.uuid)
            ):
                app.job_manager.cancel_job_by_id(row["id"], delete_job=True)
        except Exception as exc:
            logger.warning("Could not withdraw the job of task %s: %r", record.uuid, exc)
