"""Two nodes: two daphne processes and two Celery workers on one Redis and one database.

Start rate: ``POST /tasks/`` (workers paused) over 8 keep-alive connections to
one daphne, against the same 8 connections split 4 and 4 across both daphne
processes. Watched across processes: a task started through the first daphne
(``bench-ticker``, 20 calls a second) is watched by clients split across both;
every one must get live updates and the final state. Run it with
``BENCH_DB=postgres``: with SQLite the two processes take turns on one file lock.
"""

from __future__ import annotations

import asyncio
import time

import redis
from websockets.exceptions import ConnectionClosed

from ..harness import Stack
from ..httpload import load
from ..lean_ws import LeanSocket as ClientConnection
from ..stats import Metric, Sample, Target
from ..ws import now_us, subscribe
from .base import Mode, Scenario
from .fanout import Seen, _close, _follow_task, _open

CONCURRENCY = 8
NOOP = {"task": "bench-noop", "inputs": {}}


async def _posts(stack: Stack, ports: list[int], total: int) -> tuple[int, float]:
    share = CONCURRENCY // len(ports)
    began = time.monotonic()
    results = await asyncio.gather(
        *(
            load(
                port,
                stack.basic_auth,
                lambda _: ("POST", "/tasks/", NOOP),
                total=total // len(ports),
                concurrency=share,
                time_limit=120,
            )
            for port in ports
        )
    )
    return sum(result.count(201) for result in results), time.monotonic() - began


def _start_rates(stack: Stack, second: int, total: int) -> Sample:
    stack.pause_worker(True)
    try:
        one, one_s = asyncio.run(_posts(stack, [stack.port], total))
        two, two_s = asyncio.run(_posts(stack, [stack.port, second], total))
    finally:
        client = redis.Redis.from_url(stack.redis_url)
        client.delete("celery")  # the tasks started above: never run
        client.close()
        stack.pause_worker(False)
        stack.clear_tasks()
    return {
        "one_rps": one / one_s,
        "two_rps": two / two_s,
        "start_errors": float(2 * total - one - two),
    }


async def _across(stack: Stack, second: int, n: int) -> Sample:
    from task_api.engine.dispatch import get_backend
    from task_api.models import TaskRecord
    from task_api.registry import get_task

    inputs = {"rate": 20, "duration": 1.5}
    record = await asyncio.to_thread(
        lambda: TaskRecord.objects.create(name="bench-ticker", inputs=inputs, owner=stack.user)
    )
    uuid, since = str(record.uuid), now_us()
    urls = [f"ws://127.0.0.1:{port}/ws/tasks/" for port in (stack.port, second)]
    sockets = [await _open(stack, url, n // 2) for url in urls]
    deadline = time.monotonic() + 60

    async def one(ws: ClientConnection) -> Seen:
        seen = Seen()
        try:
            await subscribe(ws, uuid)
            await _follow_task(ws, since, deadline, seen)
        except ConnectionClosed:
            seen.closed = True
        return seen

    try:
        watching = [[asyncio.create_task(one(ws)) for ws in group] for group in sockets]
        await asyncio.sleep(0.5)  # every client subscribed before the task starts
        await asyncio.to_thread(get_backend().dispatch, record, get_task("bench-ticker"))
        seen = [await asyncio.gather(*group) for group in watching]
    finally:
        for group in sockets:
            await _close(group)
    return {
        "across_missed": float(sum(not s.final for group in seen for s in group)),
        "across_no_live": float(sum(not s.latencies for s in seen[1])),
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    requests, n = mode.pick(1000, 40), mode.pick(200, 10)
    stack.use_interval(0.1)
    daphne, worker, port = stack.second_node()
    daphne.start()
    worker.start(timeout=60)
    samples = []
    try:
        for _ in range(mode.repeats):
            sample = _start_rates(stack, port, requests)
            sample.update(asyncio.run(_across(stack, port, n)))
            samples.append(sample)
    finally:
        daphne.stop()
        worker.stop()
    return samples


METRICS = (
    Metric(
        label="POST /tasks/ requests/s, two daphne processes (workers paused)",
        key="two_rps",
        unit="/s",
        baseline_key="one_rps",
        baseline_label="one daphne process, same 8 connections",
        target=Target(op=">=", value=1.7, on_ratio=True),
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
        label="clients on either process without the final state",
        key="across_missed",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(
        label="clients on the other process with no live update",
        key="across_no_live",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
)

SCENARIO = Scenario(name="nodes", title="9. Two nodes", metrics=METRICS, run=_run)
