"""Batches: many tasks started together and watched as one; their state is derived from the
tasks' records (:mod:`task_api.store.aggregate`), pushed by :mod:`.engine.batch_notifier`."""

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
