"""Aggregate updates of batches, derived from their tasks' transitions, coalesced.

Every transition of a task in a batch calls :func:`changed` (a dictionary write).
One thread per process reads the batch's aggregate and publishes it at most once
every ``TASK_API_BATCH_INTERVAL`` seconds per batch, on the leading and the
trailing edge: a change after a read always causes another read, so the last
task's end is followed by a read that sees every task terminal. A frame carries
the whole aggregate (the next one repairs a lost one) and a ``seq`` that orders
frames read by different processes.
"""

from __future__ import annotations

import logging
import time

from django.db import close_old_connections

from task_api.conf import task_api_settings
from task_api.engine import publisher, runtime
from task_api.protocol import batch_group, batch_update_frame

logger = logging.getLogger("task_api.engine.batch_notifier")


class Notifier(runtime.Worker):
    """The thread that turns batch changes into aggregate frames."""

    stop_order = 3
    thread_name = "task_api-batches"

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[int, None] = {}
        self._last: dict[int, float] = {}

    def changed(self, batch_pk: int) -> None:
        with self._lock:
            if self._stopped:
                return
            self._pending[batch_pk] = None
        self.start()
        self._wakeup.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wakeup.wait()
            self._wakeup.clear()
            while True:
                interval = 0.0 if self._stopped else task_api_settings.batch_interval
                now = time.monotonic()
                with self._lock:
                    due = [pk for pk in self._pending if self._last.get(pk, 0.0) + interval <= now]
                    for pk in due:
                        del self._pending[pk]
                        self._last[pk] = now
                    waits = [self._last[pk] + interval - now for pk in self._pending]
                    if len(self._last) > 10_000:
                        self._last = {pk: t for pk, t in self._last.items() if now - t < interval}
                if due:
                    self._send(due)
                if not waits:
                    break
                self._wakeup.wait(max(min(waits), 0.001))
                self._wakeup.clear()

    @staticmethod
    def _send(due: list[int]) -> None:
        from task_api.models import TaskBatch
        from task_api.store.aggregate import aggregate, state_json

        try:
            close_old_connections()
            batches = TaskBatch.objects.in_bulk(due)
            for pk in due:
                batch = batches.get(pk)
                if batch is not None:
                    state = state_json(batch, aggregate(pk))
                    group = batch_group(batch.uuid)
                    publisher.publish(None, batch_update_frame(state), group=group)
        except Exception:
            logger.exception("Could not publish the aggregate of batches %s", due)
        finally:
            close_old_connections()


def changed(batch_pk: int | None) -> None:
    """Note that a task of batch ``batch_pk`` changed (``None``: not in a batch)."""
    if batch_pk is not None and publisher.current().reachable():
        runtime.get(Notifier).changed(batch_pk)
