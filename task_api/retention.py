"""Removing old finished tasks: the ``purge_tasks`` command and a periodic Celery task."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .conf import task_api_settings
from .models import TERMINAL_STATUSES, TaskBatch, TaskRecord
from .recovery import sweep_stale


def purge_finished(older_than: float, *, dry_run: bool = False) -> tuple[int, int]:
    """Remove tasks finished more than ``older_than`` seconds ago; also fail stale ones.

    Returns how many were (or would be) removed and how many stale tasks were failed.
    """
    stale = 0 if dry_run else sweep_stale()
    cutoff = timezone.now() - timedelta(seconds=older_than)
    old = TaskRecord.objects.filter(status__in=TERMINAL_STATUSES, finished__lt=cutoff)
    if dry_run:
        return old.count(), stale
    removed, _ = old.delete()
    # A batch goes with its last task.
    TaskBatch.objects.filter(created__lt=cutoff, tasks__isnull=True).delete()
    return removed, stale


@shared_task(name="task_api.purge", ignore_result=True)
def purge() -> int:
    """Periodic task (for celery beat): remove finished tasks older than ``TASK_API_RETENTION``."""
    return purge_finished(task_api_settings.retention)[0]
