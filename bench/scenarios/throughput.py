"""Task throughput: tasks started over REST and run by the worker, per second, and the
start endpoint's requests per second.

End to end: ``POST /tasks/`` of a no-op task over keep-alive connections until
every task has succeeded, against raw Celery ``.delay()`` of a no-op task
drained by the same worker. Endpoint alone (the worker's consumer paused, the
queue emptied afterwards): ``POST /tasks/`` against the view a developer
would write without the library (``bench/views.py``, ``HandStartView``) and a
bare DRF ``APIView`` answering 201, behind the same middleware and
authentication.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuid_lib

import redis

from ..harness import Stack
from ..httpload import LoadResult, load
from ..stats import Metric, Sample, Target
from .base import Mode, Scenario, wait_until

CONCURRENCY = 8
NOOP = {"task": "bench-noop", "inputs": {}}


def _post(stack: Stack, path: str, total: int) -> LoadResult:
    return asyncio.run(
        load(
            stack.port,
            stack.basic_auth,
            lambda _: ("POST", path, NOOP),
            total=total,
            concurrency=CONCURRENCY,
            time_limit=120,
        )
    )


def _library_tasks(stack: Stack, total: int) -> Sample:
    from task_api.models import TaskRecord

    stack.clear_tasks()
    began = time.monotonic()
    result = _post(stack, "/tasks/", total)
    started = result.count(201)
    done = TaskRecord.objects.filter(name="bench-noop", status="succeeded")
    wait_until(lambda: done.count() >= started, 120, f"{started} tasks to succeed", step=0.01)
    return {
        "lib_tasks_per_s": started / (time.monotonic() - began),
        "lib_task_errors": float(total - started),
    }


def _celery_tasks(stack: Stack, total: int) -> Sample:
    from bench.tasks import raw_noop

    client = redis.Redis.from_url(stack.redis_url)
    counter = f"bench:done:{uuid_lib.uuid4().hex}"
    began = time.monotonic()
    for _ in range(total):
        raw_noop.delay(counter)
    wait_until(
        lambda: int(client.get(counter) or 0) >= total, 120, f"{total} Celery tasks", step=0.01
    )
    seconds = time.monotonic() - began
    client.close()
    return {"celery_tasks_per_s": total / seconds}


def _endpoints(stack: Stack, total: int) -> Sample:
    stack.pause_worker(True)
    try:
        library = _post(stack, "/tasks/", total)
        hand = _post(stack, "/bench/hand/start/", total)
        bare = _post(stack, "/bench/bare/start/", total)
    finally:
        client = redis.Redis.from_url(stack.redis_url)
        client.delete("celery")  # the tasks started above: never run
        client.close()
        stack.pause_worker(False)
        stack.clear_tasks()
    return {
        "lib_start_rps": library.rate(201),
        "hand_start_rps": hand.rate(201),
        "bare_start_rps": bare.rate(201),
        "start_errors": float(3 * total - library.count(201) - hand.count(201) - bare.count(201)),
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    tasks, requests = mode.pick(300, 20), mode.pick(1000, 40)
    stack.use_interval(0.1)
    samples = []
    for _ in range(mode.repeats):
        sample = _celery_tasks(stack, tasks)
        sample.update(_library_tasks(stack, tasks))
        sample.update(_endpoints(stack, requests))
        samples.append(sample)
    return samples


METRICS = (
    Metric(
        label="tasks/s, POST /tasks/ to succeeded",
        key="lib_tasks_per_s",
        unit="/s",
        baseline_key="celery_tasks_per_s",
        baseline_label="raw Celery .delay() of a no-op, same worker",
    ),
    Metric(
        label="POST /tasks/ requests/s (worker paused)",
        key="lib_start_rps",
        unit="/s",
        baseline_key="hand_start_rps",
        baseline_label="hand-written DRF view: serializer, row, .delay() on commit",
        target=Target(op=">=", value=1.0, on_ratio=True),
    ),
    Metric(
        label="POST /tasks/ requests/s (worker paused)",
        key="lib_start_rps",
        unit="/s",
        baseline_key="bare_start_rps",
        baseline_label="bare DRF APIView answering 201",
        target=Target(op=">=", value=0.8, on_ratio=True),
    ),
    Metric(
        label="requests not answered 201",
        key="start_errors",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(
        label="tasks not started (non-201)",
        key="lib_task_errors",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
)

SCENARIO = Scenario(name="throughput", title="4. Task throughput", metrics=METRICS, run=_run)
