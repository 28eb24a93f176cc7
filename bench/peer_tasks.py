"""Tasks of the peer library, celery-progress, in its WebSocket mode (plain Celery tasks).

Each one reports with ``WebSocketProgressRecorder`` as its README shows; the
final state is pushed by its ``task_postrun`` handler, which is connected here
to these tasks only so that the library's own tasks in the same worker are
left alone (with the handler for every task, each of them would also pay a
``group_send`` and a ``close_pools()`` after it ends).
"""

from __future__ import annotations

import time

from celery import shared_task
from celery.signals import task_postrun
from celery_progress.websockets import tasks as peer_signals
from celery_progress.websockets.backend import WebSocketProgressRecorder

from bench.clock import now_us

#: ``total`` of the ticker's calls: the values are µs timestamps, ``current`` must fit under it.
TIMESTAMP_TOTAL = 1 << 62


def _timed(recorder: WebSocketProgressRecorder, current: int, total: int) -> float:
    start = time.perf_counter()
    recorder.set_progress(current, total)
    return time.perf_counter() - start


@shared_task(name="bench.peer_ticker", bind=True)
def peer_ticker(self, rate: float, duration: float, lead: float = 0.0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``set_progress`` ``rate`` times a second; each ``current`` is the time of its call in µs."""
    recorder = WebSocketProgressRecorder(self)
    time.sleep(lead)
    period, calls = 1.0 / rate, int(rate * duration)
    start = time.monotonic()
    spent = 0.0
    for i in range(calls):
        delay = start + i * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        spent += _timed(recorder, now_us(), TIMESTAMP_TOTAL)
    return {"calls": calls, "call_ms": spent / max(calls, 1) * 1000}


@shared_task(name="bench.peer_burst", bind=True)
def peer_burst(self, count: int, lead: float = 0.0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``count`` progress calls as fast as the task can make them; returns when (µs) they began
    and the mean blocking time of one call (ms)."""
    recorder = WebSocketProgressRecorder(self)
    time.sleep(lead)
    began = now_us()
    spent = 0.0
    for i in range(1, count + 1):
        spent += _timed(recorder, i, count)
    return {"count": count, "began": began, "call_ms": spent / count * 1000}


task_postrun.disconnect(peer_signals.task_postrun_handler)
for _task in (peer_ticker, peer_burst):
    task_postrun.connect(peer_signals.task_postrun_handler, sender=_task, weak=False)
