"""Batches: many tasks started together and watched as one.

A batch is a :class:`~task_api.models.TaskBatch` row that its tasks point to;
its state (counts by status, summed progress and target, a terminal status
once every task is terminal) is derived from the tasks' records
(:mod:`.aggregate`), and every task transition schedules a coalesced
aggregate update to the batch's watchers (:mod:`task_api.engine.batch_notifier`).
"""

from __future__ import annotations

from task_api.engine.batches import start_batch, start_child
from task_api.engine.service import cancel_batch
from task_api.exceptions import BatchErrors, BatchTooLarge, NotInBatch
from task_api.store.aggregate import batch_json

__all__ = [
    "BatchErrors",
    "BatchTooLarge",
    "NotInBatch",
    "batch_json",
    "cancel_batch",
    "start_batch",
    "start_child",
]
