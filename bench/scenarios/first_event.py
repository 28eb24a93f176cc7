"""Time to first progress: from ``POST /tasks/`` to the first frame carrying progress at a
WebSocket client, unloaded (one task at a time).

The client is connected and has a keep-alive HTTP connection before the clock
starts; it subscribes as soon as the POST answers. The baseline is the same
path without the library: raw Celery ``.delay()`` of a task whose one job is a
``group_send`` to a bare consumer the client is connected to.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuid_lib

from ..harness import Stack
from ..httpload import HttpConnection
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, now_us, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms

STEPS = {"task": "bench-steps", "inputs": {"steps": 3, "delay": 0.02}}
PAUSE = 0.05
WARMUP = 2  # first samples on the fresh daphne, not counted


async def _library(stack: Stack, count: int) -> list[float]:
    latencies = []
    http = HttpConnection(stack.port, stack.basic_auth)
    async with open_socket(
        f"{stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        try:
            await http.request("GET", "/tasks/?page_size=1")  # open the keep-alive connection
            for _ in range(count):
                began = now_us()
                status, task = await http.json("POST", "/tasks/", STEPS)
                if status != 201:
                    raise RuntimeError(f"POST /tasks/ answered {status}: {task!r}")
                await subscribe(ws, task["uuid"])
                first = None
                deadline = time.monotonic() + 30
                while (got := await receive(ws, deadline - time.monotonic())) is not None:
                    arrival, frame = got
                    if frame.get("uuid") != task["uuid"]:
                        continue
                    if first is None and progress_of(frame) is not None:
                        first = arrival
                    if is_terminal(frame):
                        break
                if first is None:
                    raise RuntimeError(f"no progress seen for task {task['uuid']}")
                latencies.append(ms(first - began))
                await asyncio.sleep(PAUSE)
        finally:
            await http.close()
    return latencies


async def _baseline(stack: Stack, count: int) -> list[float]:
    from bench.tasks import raw_ping

    latencies = []
    group = uuid_lib.uuid4().hex
    url = f"{stack.ws_url}/ws/bare/{group}/"
    async with open_socket(url, cookie=stack.cookie, origin=stack.origin) as ws:
        for _ in range(count):
            began = now_us()
            raw_ping.delay("bench." + group, began)
            got = await receive(ws, 30)
            if got is None:
                raise RuntimeError("the raw Celery task's event did not arrive")
            latencies.append(ms(got[0] - began))
            await asyncio.sleep(PAUSE)
    return latencies


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    count = mode.pick(30, 3)
    stack.use_interval(0.1)
    stack.restart_daphne()  # unloaded: a fresh server, not one that served the fan-out
    samples = []
    for _ in range(mode.repeats):
        base = asyncio.run(_baseline(stack, count + WARMUP))[WARMUP:]
        lib = asyncio.run(_library(stack, count + WARMUP))[WARMUP:]
        samples.append(
            {
                "lib_p50": percentile(lib, 50),
                "lib_p99": percentile(lib, 99),
                "raw_p50": percentile(base, 50),
                "raw_p99": percentile(base, 99),
            }
        )
    return samples


RAW = "raw Celery .delay() + group_send, bare consumer"

METRICS = (
    Metric(
        label="POST to first progress frame, p50",
        key="lib_p50",
        unit="ms",
        baseline_key="raw_p50",
        baseline_label=RAW,
        target=Target(op="<=", value=20),
    ),
    Metric(
        label="POST to first progress frame, p99",
        key="lib_p99",
        unit="ms",
        baseline_key="raw_p99",
        baseline_label=RAW,
    ),
)

SCENARIO = Scenario(name="first", title="7. Time to first progress", metrics=METRICS, run=_run)
