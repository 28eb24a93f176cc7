"""Time to first progress: from the start request to the first frame carrying progress at a
WebSocket client, unloaded (one task at a time).

Two ways to start, in turn on the same socket: ``POST /tasks/`` then a
``subscribe`` as soon as the POST answers (the client is connected and has a
keep-alive HTTP connection before the clock starts), and one ``start`` frame.
The baseline is the same path without the library: raw Celery ``.delay()`` of a
task whose one job is a ``group_send`` to a bare consumer the client is
connected to.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid as uuid_lib
from typing import Any

from ..harness import Stack
from ..httpload import HttpConnection
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, now_us, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms

STEPS = {"task": "bench-steps", "inputs": {"steps": 3, "delay": 0.02}}
PAUSE = 0.05
WARMUP = 2  # first samples on the fresh daphne, not counted


async def _library(stack: Stack, count: int) -> tuple[list[float], list[float]]:
    """Latencies by ``POST`` + ``subscribe`` and by ``start`` frame, sample by sample in turn."""
    by_post, by_frame = [], []
    http = HttpConnection(stack.port, stack.basic_auth)
    async with open_socket(
        f"{stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        try:
            await http.request("GET", "/tasks/?page_size=1")  # open the keep-alive connection
            for index in range(count):
                by_post.append(await _by_post(ws, http))
                await asyncio.sleep(PAUSE)
                by_frame.append(await _by_frame(ws, str(index)))
                await asyncio.sleep(PAUSE)
        finally:
            await http.close()
    return by_post, by_frame


async def _by_post(ws: Any, http: HttpConnection) -> float:
    began = now_us()
    status, task = await http.json("POST", "/tasks/", STEPS)
    if status != 201:
        raise RuntimeError(f"POST /tasks/ answered {status}: {task!r}")
    await subscribe(ws, task["uuid"])
    return ms(await _first_progress(ws, task["uuid"]) - began)


async def _by_frame(ws: Any, ref: str) -> float:
    began = now_us()
    await ws.send(json.dumps({"type": "start", "ref": ref, **STEPS}))
    return ms(await _first_progress(ws, None, ref=ref) - began)


async def _first_progress(ws: Any, uuid: str | None, *, ref: str = "") -> int:
    """When the first frame carrying the task's progress arrived; waits for its end."""
    first = None
    deadline = time.monotonic() + 30
    while (got := await receive(ws, deadline - time.monotonic())) is not None:
        arrival, frame = got
        if frame.get("ref") == ref and frame.get("type") == "started":
            uuid = frame["uuid"]
            frame = {**frame, "type": "snapshot"}  # it counts as the task's snapshot
        elif frame.get("type") == "error":
            raise RuntimeError(f"the server refused a frame: {frame!r}")
        if uuid is None or frame.get("uuid") != uuid:
            continue
        if first is None and progress_of(frame) is not None:
            first = arrival
        if is_terminal(frame):
            break
    if first is None:
        raise RuntimeError(f"no progress seen for task {uuid}")
    return first


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
        lib, by_frame = (s[WARMUP:] for s in asyncio.run(_library(stack, count + WARMUP)))
        samples.append(
            {
                "lib_p50": percentile(lib, 50),
                "lib_p99": percentile(lib, 99),
                "start_p50": percentile(by_frame, 50),
                "start_p99": percentile(by_frame, 99),
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
    Metric(
        label="start frame over the WebSocket to first progress frame, p50",
        key="start_p50",
        unit="ms",
        baseline_key="raw_p50",
        baseline_label=RAW,
        target=Target(op="<=", value=10),
    ),
    Metric(
        label="start frame over the WebSocket to first progress frame, p99",
        key="start_p99",
        unit="ms",
        baseline_key="raw_p99",
        baseline_label=RAW,
    ),
)

SCENARIO = Scenario(name="first", title="7. Time to first progress", metrics=METRICS, run=_run)
