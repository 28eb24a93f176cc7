"""Finding running tasks whose worker died: no heartbeat for ``TASK_API_STALE_AFTER``.

Checked whenever a running task is read, and swept by :func:`sweep_stale` (Celery
workers, ``purge_tasks``). While PostgreSQL restarts, a healthy worker cannot beat
either, so a task counts as stale only once the database server itself has been up
for ``TASK_API_STALE_AFTER`` (``pg_postmaster_start_time``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from task_api.conf import task_api_settings
from task_api.engine import lifecycle
from task_api.models import TaskRecord, TaskStatus
from task_api.store import database

logger = logging.getLogger("task_api.engine.recovery")

LOST_MESSAGE = "The worker running the task stopped responding (it crashed or was killed)."


def _cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=task_api_settings.stale_after)


def database_up_since() -> datetime | None:
    """When the database server last started, where the database tells (PostgreSQL)."""
    db = database.connection()
    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()")
        row = cursor.fetchone()
    return row[0] if row else None


def is_stale(record: TaskRecord) -> bool:
    """Whether a running record has missed heartbeats it could have written."""
    if record.status != TaskStatus.RUNNING or record.heartbeat is None:
        return False
    cutoff = _cutoff()
    if record.heartbeat >= cutoff:
        return False
    up_since = database_up_since()
    return up_since is None or up_since < cutoff


def fail_if_stale(record: TaskRecord) -> TaskRecord:
    """Fail ``record`` as lost if it is stale; returns it as stored."""
    if not is_stale(record):
        return record
    running = (TaskStatus.RUNNING,)
    if lifecycle.fail(
        record, "WorkerLost", LOST_MESSAGE, from_statuses=running, heartbeat=record.heartbeat
    ):
        logger.warning("Task %s lost its worker; marked failed", record.uuid)
    else:
        record.refresh_from_db()
    return record


def sweep_stale() -> int:
    """Fail every stale running task; returns how many."""
    stale = TaskRecord.objects.filter(status=TaskStatus.RUNNING, heartbeat__lt=_cutoff())
    return sum(fail_if_stale(record).status != TaskStatus.RUNNING for record in stale)
