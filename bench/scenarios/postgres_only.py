"""PostgreSQL only against Celery and Redis, in the same run, in turns: start rate, time to
first progress, push latency, and fan-out of one task to many watchers.

The Celery+Redis side is the bench's ``Stack``; the PostgreSQL-only side is
:class:`~bench.harness.PostgresOnly` (a Procrastinate worker and a daphne on
channels-postgres, docs/how-to/postgres-only.md), on a PostgreSQL database of its own.
Both run two tasks at a time, with the default progress interval (0.1 s), and are
measured by the same code, in turns (the Celery stack first in odd repeats): a burst
of ``POST /tasks/`` of a no-op task until all succeeded (tasks/s); ``POST`` then
``subscribe`` to the first progress frame
(:func:`bench.scenarios.first_event._library`, p50); a ticker task watched by one client
(:func:`bench.scenarios.push_latency.watch_ticker`, p50 from the ``set_progress`` call
to the frame); and the same ticker (10 values a second) watched by ``n`` clients
subscribed during the task's lead time (latency p50 over every frame of every client,
and how many clients missed the final state).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..harness import PostgresOnly, Stack
from ..httpload import load
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms, start_task, wait_until
from .first_event import WARMUP
from .first_event import _library as first_progress
from .push_latency import watch_ticker

CONCURRENCY = 8  # keep-alive connections of the start burst
OPENING = 50  # sockets opened (and subscribed) at once
FANOUT_RATE = 10.0
NOOP = {"task": "bench-noop", "inputs": {}}


@dataclass
class Watcher:
    """What one fan-out client saw."""

    latencies: list[float] = field(default_factory=list)
    snapshot_at: int = 0  # arrival of its first snapshot (µs)
    first_value: int = 0  # the earliest progress value it got (µs of the set_progress call)
    final: bool = False


def _start_rate(target: Any, succeeded: Callable[[], int], total: int) -> float:
    """Tasks per second, from the first ``POST /tasks/`` to the last task succeeded."""
    before = succeeded()
    began = time.monotonic()
    result = asyncio.run(
        load(
            target.port,
            target.basic_auth,
            lambda _: ("POST", "/tasks/", NOOP),
            total=total,
            concurrency=CONCURRENCY,
            time_limit=120,
        )
    )
    started = result.count(201)
    wait_until(lambda: succeeded() - before >= started, 120, f"{started} tasks", step=0.02)
    return started / (time.monotonic() - began)


async def _fanout(target: Any, n: int, seconds: float) -> Sample:
    """Latency p50 and p99 (ms) over every progress frame of ``n`` watchers of one ticker,
    frames per watcher, daphne's CPU per frame, how many watchers did not get the final
    state, and how many had their first snapshot only after the first value was set
    (subscribed late: then the subscribes, not the fan-out, are measured)."""
    lead = max(2.0, n / 50)  # time to subscribe everyone before the first value
    url = f"{target.ws_url}/ws/tasks/"
    gate = asyncio.Semaphore(OPENING)
    inputs = {"rate": FANOUT_RATE, "duration": seconds, "lead": lead}
    uuid = await start_task(target, "bench-ticker", inputs)
    deadline = time.monotonic() + lead + seconds + 60

    async def watcher() -> Watcher:
        seen = Watcher()
        async with gate:
            ws = await open_socket(url, cookie=target.cookie, origin=target.origin)
            await subscribe(ws, uuid)
        try:
            while (got := await receive(ws, deadline - time.monotonic())) is not None:
                arrival, frame = got
                if frame["type"] == "snapshot":
                    seen.snapshot_at = seen.snapshot_at or arrival
                    if is_terminal(frame):
                        seen.final = frame["task"]["status"] == "succeeded"
                        break
                value = progress_of(frame)
                if value is not None and frame["type"] == "update":
                    seen.latencies.append(ms(arrival - value))
                    seen.first_value = min(seen.first_value or value, value)
            return seen
        finally:
            await ws.close()

    cpu = target.daphne_cpu()
    results = await asyncio.gather(*(watcher() for _ in range(n)), return_exceptions=True)
    cpu = target.daphne_cpu() - cpu
    seen = [r if isinstance(r, Watcher) else Watcher() for r in results]
    latencies = [v for one in seen for v in one.latencies]
    first_value = min((one.first_value for one in seen if one.first_value), default=0)
    return {
        "fan_p50": percentile(latencies, 50),
        "fan_p99": percentile(latencies, 99),
        "fan_frames": len(latencies) / n,
        "fan_missed": float(sum(not one.final for one in seen)),
        "fan_late": float(
            sum(not one.snapshot_at or one.snapshot_at > first_value for one in seen)
        ),
        "fan_cpu_ms": cpu * 1000 / max(len(latencies), 1),
    }


def _measure(prefix: str, target: Any, succeeded: Callable[[], int], mode: Mode) -> Sample:
    rate = _start_rate(target, succeeded, mode.pick(300, 10))
    count = mode.pick(20, 2)
    by_post, _ = asyncio.run(first_progress(target, count + WARMUP))
    push = asyncio.run(watch_ticker(target, mode.pick(3.0, 0.5)))
    watchers = mode.pick(1000, 20)
    fanout = asyncio.run(_fanout(target, watchers, mode.pick(5.0, 1.0)))
    return {
        f"{prefix}_rate": rate,
        f"{prefix}_first_p50": percentile(by_post[WARMUP:], 50),
        f"{prefix}_push_p50": percentile(push, 50),
        f"{prefix}_watchers": float(watchers),
        **{f"{prefix}_{key}": value for key, value in fanout.items()},
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    from task_api.models import TaskRecord

    stack.use_interval(0.1)
    pg = PostgresOnly(stack)
    pg.start()
    try:

        def celery_succeeded() -> int:
            return TaskRecord.objects.filter(name="bench-noop", status="succeeded").count()

        def pg_succeeded() -> int:
            return pg.succeeded("bench-noop")

        samples = []
        for repeat in range(mode.repeats):
            stack.clear_tasks()
            pg.clear_tasks()
            turns = [("celery", stack, celery_succeeded), ("pg", pg, pg_succeeded)]
            sample: Sample = {}
            for prefix, target, succeeded in turns[:: 1 if repeat % 2 == 0 else -1]:
                sample.update(_measure(prefix, target, succeeded, mode))
            samples.append(sample)
        return samples
    finally:
        pg.stop()


CELERY = "Celery + Redis"


def _versus(label: str, key: str, unit: str, target: Target | None = None) -> Metric:
    return Metric(
        label=label,
        key=f"pg_{key}",
        unit=unit,
        baseline_key=f"celery_{key}",
        baseline_label=CELERY,
        target=target,
    )


METRICS = (
    _versus("tasks/s, POST /tasks/ to succeeded (2 tasks at a time)", "rate", "/s"),
    _versus("POST to first progress frame, p50", "first_p50", "ms"),
    _versus("push latency p50, set_progress to frame (interval 0.1 s)", "push_p50", "ms"),
    _versus("fan-out: latency p50 over every watcher's frames", "fan_p50", "ms"),
    _versus("fan-out: latency p99", "fan_p99", "ms"),
    _versus("fan-out: progress frames per watcher", "fan_frames", ""),
    _versus("fan-out: daphne CPU per frame delivered (subscribes included)", "fan_cpu_ms", "ms"),
    _versus(
        "fan-out: watchers without the final state", "fan_missed", "", Target(op="==", value=0)
    ),
    _versus("fan-out: watchers subscribed after the first value", "fan_late", ""),
    Metric(label="fan-out: watchers of the one task", key="pg_watchers", unit=""),
)

SCENARIO = Scenario(
    name="postgres_only",
    title="12. PostgreSQL only vs Celery + Redis",
    metrics=METRICS,
    run=_run,
)
