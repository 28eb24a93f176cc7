"""Polling: ``GET /tasks/<uuid>/`` requests per second against a bare DRF retrieve
(``RetrieveAPIView`` with a ``ModelSerializer`` of every column) of the same row,
on the same server with the same middleware and authentication.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from django.utils import timezone

from ..harness import Stack
from ..httpload import LoadResult, load
from ..stats import Metric, Sample, Target
from .base import Mode, Scenario

CONCURRENCY = 8


def _finished_task(stack: Stack) -> str:
    from task_api.models import TaskRecord

    now = timezone.now()
    log = [
        {
            "value": f"step {i}",
            "level": "info",
            "time": (now - timedelta(seconds=3 - i)).isoformat(),
        }
        for i in range(3)
    ]
    record = TaskRecord.objects.create(
        name="countdown",
        status="succeeded",
        inputs={"count": 10},
        outputs={"counted": 10},
        progress=10,
        target=10,
        messages=log,
        owner=stack.user,
        created=now - timedelta(seconds=4),
        started=now - timedelta(seconds=4),
        finished=now,
        heartbeat=now,
        seq=14,
        attempt=1,
    )
    return str(record.uuid)


def _get(stack: Stack, path: str, total: int) -> LoadResult:
    return asyncio.run(
        load(
            stack.port,
            stack.basic_auth,
            lambda _: ("GET", path, None),
            total=total,
            concurrency=CONCURRENCY,
            time_limit=120,
        )
    )


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    total = mode.pick(1000, 40)
    uuid = _finished_task(stack)
    samples = []
    for repeat in range(mode.repeats):
        paths = {"lib": f"/tasks/{uuid}/", "bare": f"/bench/bare/tasks/{uuid}/"}
        order = ["lib", "bare"] if repeat % 2 == 0 else ["bare", "lib"]
        results = {name: _get(stack, paths[name], total) for name in order}
        samples.append(
            {
                "lib_rps": results["lib"].rate(200),
                "bare_rps": results["bare"].rate(200),
                "errors": float(2 * total - results["lib"].count(200) - results["bare"].count(200)),
            }
        )
    return samples


METRICS = (
    Metric(
        label="GET /tasks/<uuid>/ requests/s",
        key="lib_rps",
        unit="/s",
        baseline_key="bare_rps",
        baseline_label="bare DRF RetrieveAPIView + ModelSerializer",
        target=Target(op=">=", value=0.8, on_ratio=True),
    ),
    Metric(
        label="requests not answered 200",
        key="errors",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
)

SCENARIO = Scenario(name="polling", title="5. Polling", metrics=METRICS, run=_run)
