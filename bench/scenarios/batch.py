"""A batch of 1,000 busy tasks watched as one over a WebSocket.

``POST /tasks/batches/`` starts 1,000 ``bench-steps`` tasks (each sets a target
and counts to it); one watcher subscribes to the batch and reads its
aggregate frames until the terminal state. Every task transition schedules an
aggregate update, coalesced per process to one every
``TASK_API_BATCH_INTERVAL``, so the watcher sees a few frames a second
instead of thousands of task events. Measured: frames per second at the
client, the time from the last task's end (its ``finished`` in the database)
to the batch's final state at the client, and whether that state has exact
counts and sums.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from typing import Any

from ..harness import Stack
from ..httpload import HttpConnection
from ..stats import Metric, Sample, Target
from ..ws import now_us, open_socket, receive
from .base import Mode, Scenario, ms

COUNT = 1_000
STEPS = 3
DELAY = 0.005


def _wall_to_monotonic_us(iso: str) -> float:
    """A server timestamp on the bench clock (same machine: the offset is the same)."""
    wall_us = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1e6
    return wall_us - (time.time_ns() / 1000 - now_us())


async def watch_batch(stack: Stack, count: int) -> Sample:
    """Start a batch of ``count`` tasks and watch it to its terminal state."""
    items = [{"task": "bench-steps", "inputs": {"steps": STEPS, "delay": DELAY}}] * count
    connection = HttpConnection(stack.port, stack.basic_auth)
    async with open_socket(
        f"{stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        posted = now_us()
        try:
            status, batch = await connection.json("POST", "/tasks/batches/", {"tasks": items})
        finally:
            await connection.close()
        answered = now_us()
        if status != 201:
            raise RuntimeError(f"POST /tasks/batches/ answered {status}: {batch!r}")
        await ws.send(json.dumps({"type": "subscribe", "batch": batch["uuid"]}))
        frames, first, last = 0, 0, 0
        final: dict[str, Any] | None = None
        deadline = time.monotonic() + 300
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            arrival, frame = got
            if frame.get("batch") != batch["uuid"]:
                continue
            frames += 1
            first, last = first or arrival, arrival
            state = frame.get("data") or frame.get("set") or {}
            if state.get("status") not in (None, "pending", "running"):
                final = state
                break
    correct = (
        final is not None
        and final["counts"]["succeeded"] == count
        and final["progress"] == final["target"] == count * STEPS
    )
    end_to_final = (
        ms(last - _wall_to_monotonic_us(final["finished"]))
        if final and final["finished"]
        else math.nan
    )
    return {
        "lost_final": float(final is None),
        "wrong_final": float(not correct),
        "frames": float(frames),
        "task_events": float(final["seq"] - count) if final else math.nan,
        "frames_per_s": frames / max((last - first) / 1e6, 1e-6),
        "end_to_final_ms": end_to_final,
        "start_ms": ms(answered - posted),
        "total_s": (last - posted) / 1e6,
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    count = mode.pick(COUNT, 40)
    stack.use_interval(0.1)
    return [asyncio.run(watch_batch(stack, count)) for _ in range(mode.repeats)]


def _none(key: str, label: str) -> Metric:
    return Metric(
        label=label, key=key, unit="", target=Target(op="==", value=0), aggregate="sum", check=True
    )


METRICS = (
    _none("lost_final", "runs without the batch's terminal state"),
    _none("wrong_final", "runs whose final counts or sums were not exact"),
    Metric(
        label="aggregate frames delivered to the watcher",
        key="frames",
        unit="",
        baseline_key="task_events",
        baseline_label="task events published (a frame each to a watcher of every task)",
    ),
    Metric(label="aggregate frames/s at the client", key="frames_per_s", unit="/s"),
    Metric(
        label="last task's end to the batch's final state at the client",
        key="end_to_final_ms",
        unit="ms",
    ),
    Metric(label="POST /tasks/batches/ of the whole batch", key="start_ms", unit="ms"),
    Metric(label="batch start to final state at the client", key="total_s", unit="s"),
)

SCENARIO = Scenario(
    name="batch", title="8. A batch of 1,000 busy tasks, watched", metrics=METRICS, run=_run
)
