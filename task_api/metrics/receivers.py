"""What updates the metric families: receivers of the lifecycle signals, and a
:class:`~task_api.probes.Probe` that counts."""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any

from task_api import probes, signals
from task_api.metrics import families, multiprocess_dir
from task_api.models import TaskRecord

logger = logging.getLogger("task_api.metrics")

UID = "task_api.metrics"


def enqueued(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
    families.tasks_enqueued.labels(record.name).inc()


def started(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
    families.tasks_started.labels(record.name).inc()
    if record.attempt > 1:
        families.tasks_retried.labels(record.name).inc()
    elif record.started is not None:
        since = max(record.created, record.run_after or record.created)
        waited = (record.started - since).total_seconds()
        families.task_queue.labels(record.name).observe(max(waited, 0.0))


def finished(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
    families.tasks_finished.labels(record.name, record.status).inc()
    if record.started is not None and record.finished is not None:
        ran = (record.finished - record.started).total_seconds()
        families.task_runtime.labels(record.name).observe(max(ran, 0.0))


class CountingProbe(probes.Probe):
    """Counts what the hooks report; a failure is logged, never raised into the hook."""

    def sent(self, seconds: float) -> None:
        try:
            families.events_published.inc()
            families.event_publish.observe(seconds)
        except Exception:
            logger.exception("Could not count a published event")

    def send_failed(self) -> None:
        try:
            families.events_failed.inc()
        except Exception:
            logger.exception("Could not count an event that failed")

    def connections(self, change: int) -> None:
        try:
            families.websocket_connections.inc(change)
        except Exception:
            logger.exception("Could not count a WebSocket connection")

    def subscriptions(self, change: int) -> None:
        try:
            families.subscriptions.inc(change)
        except Exception:
            logger.exception("Could not count a subscription")


RECEIVERS = (
    (signals.task_enqueued, enqueued),
    (signals.task_started, started),
    (signals.task_finished, finished),
)


def connect() -> None:
    """Count from now on (idempotent)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, sender=TaskRecord, dispatch_uid=UID)
    if not isinstance(probes.probe, CountingProbe):
        probes.install(CountingProbe())
    global _at_exit
    if multiprocess_dir() and not _at_exit:
        _at_exit = True
        atexit.register(_mark_dead)


def disconnect() -> None:
    """Stop counting."""
    for signal, _receiver in RECEIVERS:
        signal.disconnect(sender=TaskRecord, dispatch_uid=UID)
    probes.install(probes.Probe())


_at_exit = False


def _mark_dead() -> None:
    """Drop the share of the exiting process in the live gauges (its connections are gone)."""
    from prometheus_client import multiprocess

    if path := multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
