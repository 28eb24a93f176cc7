"""Removing finished tasks: old ones for the ``purge_tasks`` command and ``task_api.purge``
(Celery), chosen ones for the admin."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
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


def remove_finished(tasks: QuerySet[TaskRecord]) -> int:
    """Remove the finished tasks among ``tasks``, with their stream blocks and share links,
    and the batches they leave empty: how many tasks were removed. Unfinished ones stay."""
    finished = tasks.filter(status__in=TERMINAL_STATUSES).order_by()
    rows = list(finished.values_list("pk", "batch_id"))
    batch_ids = {batch_id for _, batch_id in rows if batch_id is not None}
    # By primary key: ``tasks`` may be a list's queryset that ``delete()`` refuses.
    _, removed_by_model = TaskRecord.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    TaskBatch.objects.filter(pk__in=batch_ids, tasks__isnull=True).delete()
    return removed_by_model.get(TaskRecord._meta.label, 0)
