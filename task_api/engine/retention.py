"""Removing old finished tasks: the ``purge_tasks`` command and ``task_api.purge`` (Celery)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from task_api.engine.recovery import sweep_stale
from task_api.models import TERMINAL_STATUSES, TaskBatch, TaskRecord


def purge_finished(older_than: float, *, dry_run: bool = False) -> tuple[int, int]:
    """Remove tasks finished more than ``older_than`` seconds ago, and fail stale ones: how
    many were (or would be) removed, and how many stale tasks were failed."""
    stale = 0 if dry_run else sweep_stale()
    cutoff = timezone.now() - timedelta(seconds=older_than)
    old = TaskRecord.objects.filter(status__in=TERMINAL_STATUSES, finished__lt=cutoff)
    if dry_run:
        return old.count(), stale
    _, removed_by_model = old.delete()  # their stream blocks go with them
    removed = removed_by_model.get(TaskRecord._meta.label, 0)
    # A batch goes with its last task.
    TaskBatch.objects.filter(created__lt=cutoff, tasks__isnull=True).delete()
    return removed, stale
