"""Progress call cost: ``self.set_progress(i)`` a million times in a tight loop.

Runs in the bench process through ``runner.execute``, so the task has the real
``Reporter``, flusher thread and ``DatabaseSink`` (SQLite, and events to
Redis). The task times its own loop, with the call and without it (an empty
loop of the same length). Every coalesced flush bumps the task's ``seq`` by
one, so ``seq`` after the run tells how many progress writes the loop caused.
"""

from __future__ import annotations

from ..harness import Stack
from ..stats import Metric, Sample, Target
from .base import Mode, Scenario

#: ``seq`` moves once to start the task and once to finish it; the rest are flushes.
LIFECYCLE_WRITES = 2


def _spin(stack: Stack, count: int, call: bool) -> tuple[float, int | None, int]:
    from task_api.engine import runner
    from task_api.models import TaskRecord

    record = TaskRecord.objects.create(
        name="bench-spin", inputs={"count": count, "call": call}, owner=stack.user
    )
    runner.execute(record.uuid)
    record.refresh_from_db()
    if record.status != "succeeded":
        raise RuntimeError(f"bench-spin ended {record.status}: {record.error}")
    return float(record.outputs["seconds"]), record.progress, record.seq - LIFECYCLE_WRITES


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    count = mode.pick(1_000_000, 20_000)
    samples = []
    for _ in range(mode.repeats):
        bare, _, _ = _spin(stack, count, call=False)
        with_call, progress, writes = _spin(stack, count, call=True)
        samples.append(
            {
                "bare_ns": bare / count * 1e9,
                "call_ns": with_call / count * 1e9,
                "cost_ns": (with_call - bare) / count * 1e9,
                "progress_off": float(abs((progress or 0) - count)),
                "writes": float(writes),
                "loop_ms": with_call * 1000,
            }
        )
    return samples


METRICS = (
    Metric(
        label="set_progress, amortized cost per call",
        key="cost_ns",
        unit="ns",
        baseline_key="bare_ns",
        baseline_label="empty loop iteration",
        target=Target(op="<=", value=1000),
    ),
    Metric(label="loop of 1,000,000 calls", key="loop_ms", unit="ms"),
    Metric(
        label="stored progress minus calls",
        key="progress_off",
        unit="",
        target=Target(op="==", value=0),
        aggregate="max",
        check=True,
    ),
    Metric(
        label="progress writes (flushes) during the loop",
        key="writes",
        unit="",
        target=Target(op="<=", value=20),
        aggregate="max",
        check=True,
    ),
)

SCENARIO = Scenario(name="progress", title="2. Progress call cost", metrics=METRICS, run=_run)
