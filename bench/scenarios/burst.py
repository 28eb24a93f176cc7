"""Event delivery under a burst: 5,000 progress calls and a batch of messages, as fast as
a task can make them, watched over a WebSocket.

The library coalesces the burst, so the watcher sees few frames; what must
hold is that the terminal state always arrives and that the last progress seen
is the final one. The baseline sends 5,000 raw ``group_send`` events from one
event loop to a bare consumer and counts how many arrive (channels-redis drops
what does not fit in a channel's capacity, silently).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid as uuid_lib
from typing import Any

from ..harness import Stack
from ..stats import Metric, Sample, Target
from ..ws import is_terminal, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms, start_task

COUNT = 5_000
MESSAGES = 500
QUIET = 1.0


async def watch_burst(stack: Stack, count: int, messages: int) -> Sample:
    """Start ``bench-burst`` and watch it to the end."""
    frames, gaps, last_seq, last_progress = 0, 0, -1, None
    first = last = 0
    final: dict[str, Any] | None = None
    async with open_socket(
        f"{stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        uuid = await start_task(
            stack, "bench-burst", {"count": count, "messages": messages, "lead": 0.3}
        )
        await subscribe(ws, uuid)
        deadline = time.monotonic() + 60
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            arrival, frame = got
            frames += 1
            first, last = first or arrival, arrival
            if frame["type"] == "update" and last_seq >= 0 and frame["seq"] > last_seq + 1:
                gaps += 1
            last_seq = max(last_seq, frame.get("seq", -1))
            last_progress = progress_of(frame) if progress_of(frame) is not None else last_progress
            if is_terminal(frame):
                final = frame["task"]
                break
    correct = (
        final is not None
        and final["status"] == "succeeded"
        and last_progress == count
        and len(final["messages"]) == messages
    )
    began = final["outputs"]["began"] if final and final["status"] == "succeeded" else None
    return {
        "lost_terminal": float(final is None),
        "wrong_final": float(not correct),
        "frames": float(frames),
        "gaps": float(gaps),
        "frames_per_s": frames / max((last - first) / 1e6, 1e-6),
        "final_ms": ms(last - began) if began else math.nan,
    }


async def bare_burst(stack: Stack, count: int) -> Sample:
    """Send ``count`` raw group sends to a bare consumer; count what arrives."""
    group = uuid_lib.uuid4().hex
    out = stack.dir / f"burst-{group}.txt"
    received, first, last = 0, 0, 0
    url = f"{stack.ws_url}/ws/bare/{group}/"
    async with open_socket(url, cookie=stack.cookie, origin=stack.origin) as ws:
        feeder = stack.subprocess(
            "feed-burst", ["bench.feeders", "layer-burst", group, str(count), str(out)]
        )
        feeder.start()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                # Until the feeder is done, look at it often; then wait for a quiet second.
                running = feeder.running
                got = await receive(ws, 0.1 if running else QUIET)
                if got is None:
                    if not running:
                        break
                    continue
                received += 1
                first, last = first or got[0], got[0]
        finally:
            feeder.wait(30)
    began, ended = map(int, out.read_text().split())
    return {
        "bare_delivered": float(received),
        "bare_frames_per_s": received / max((last - first) / 1e6, 1e-6),
        "bare_emitted_per_s": count / ((ended - began) / 1e6),
        "bare_final_ms": ms(last - began),
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    count, messages = mode.pick(COUNT, 200), mode.pick(MESSAGES, 20)
    samples: list[Sample] = [{} for _ in range(mode.repeats)]
    for sample in samples:
        sample.update(asyncio.run(bare_burst(stack, count)))
    stack.use_interval(0.0)
    for sample in samples:
        zero = asyncio.run(watch_burst(stack, count, messages))
        sample.update({f"{key}0": value for key, value in zero.items()})
    stack.use_interval(0.1)
    for sample in samples:
        sample.update(asyncio.run(watch_burst(stack, count, messages)))
    return samples


def _none(key: str, label: str) -> Metric:
    return Metric(
        label=label, key=key, unit="", target=Target(op="==", value=0), aggregate="sum", check=True
    )


RAW = "raw group_send of 5,000 events, bare consumer"

METRICS = (
    _none("lost_terminal", "runs without the terminal state (interval 0.1 s)"),
    _none("wrong_final", "runs whose last progress or messages were not final (0.1 s)"),
    _none("lost_terminal0", "runs without the terminal state (interval 0)"),
    _none("wrong_final0", "runs whose last progress or messages were not final (0)"),
    Metric(
        label="burst start to final state at the client, interval 0.1 s",
        key="final_ms",
        unit="ms",
        baseline_key="bare_final_ms",
        baseline_label=RAW + ": first send to last arrival",
    ),
    Metric(
        label="burst start to final state at the client, interval 0", key="final_ms0", unit="ms"
    ),
    Metric(
        label="frames delivered, interval 0.1 s",
        key="frames",
        unit="",
        baseline_key="bare_delivered",
        baseline_label=RAW,
    ),
    Metric(label="frames delivered, interval 0", key="frames0", unit=""),
    Metric(
        label="delivered frames/s, interval 0",
        key="frames_per_s0",
        unit="/s",
        baseline_key="bare_frames_per_s",
        baseline_label=RAW,
    ),
    Metric(label="seq gaps seen by the client, interval 0", key="gaps0", unit="", aggregate="max"),
    Metric(
        label="raw group_send emission rate (one event loop)", key="bare_emitted_per_s", unit="/s"
    ),
)

SCENARIO = Scenario(name="burst", title="3. Event delivery under burst", metrics=METRICS, run=_run)
