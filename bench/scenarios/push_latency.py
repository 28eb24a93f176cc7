"""Push latency: from a ``set_progress`` call in a worker to the frame at a WebSocket client.

The task (``bench-ticker``) calls ``set_progress`` 200 times a second with the
call's own time in µs as the value, so each pushed frame tells when the value
it carries was set. Coalescing pushes only some values (at most one per
``TASK_API_PROGRESS_INTERVAL``); each pushed one is timed from its own call.
Baselines send the same timestamps at the same rate from a separate process:
(a) raw Redis ``PUBLISH`` to a subscriber forwarding over a bare ``websockets``
server; (b) ``async_to_sync(group_send)`` to a bare Channels consumer in the
same daphne. At interval 0 the library is measured on both channels-redis
layers in the same run, in turns with the raw floor: the stack's
``RedisChannelLayer`` and a second daphne and worker on
``RedisPubSubChannelLayer`` (the other worker paused).
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuid_lib

from ..harness import Stack
from ..processes import Process, free_port, port_open
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms, start_task, wait_until

RATE = 200.0
BARE = "bare Channels consumer"
RAW = "raw Redis + websockets"
CORE = "RedisChannelLayer"
PUBSUB = "pub/sub layer"


def _summary(prefix: str, latencies: list[float]) -> Sample:
    return {
        f"{prefix}_p50": percentile(latencies, 50),
        f"{prefix}_p99": percentile(latencies, 99),
        f"{prefix}_n": float(len(latencies)),
    }


async def watch_ticker(stack: Stack, seconds: float, ws_url: str = "") -> list[float]:
    """Start a ticker task, watch it (on ``ws_url``, by default the stack's daphne),
    and return the latency of each pushed value in ms."""
    latencies: list[float] = []
    async with open_socket(
        f"{ws_url or stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        uuid = await start_task(
            stack, "bench-ticker", {"rate": RATE, "duration": seconds, "lead": 0.2}
        )
        await subscribe(ws, uuid)
        since: int | None = None
        deadline = time.monotonic() + seconds + 30
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            arrival, frame = got
            if frame["type"] == "snapshot":
                since = since or arrival
                if is_terminal(frame):
                    break
                continue
            value = progress_of(frame)
            if value is not None and since is not None and value >= since:
                latencies.append(ms(arrival - value))
    return latencies


async def watch_feed(
    url: str, feeder: Process, seconds: float, *, cookie: str = "", origin: str = ""
) -> list[float]:
    """Connect to ``url``, start ``feeder``, and return the latency of each ``{"t": µs}`` frame."""
    latencies: list[float] = []
    async with open_socket(url, cookie=cookie, origin=origin) as ws:
        feeder.start()
        try:
            deadline = time.monotonic() + seconds + 30
            while (got := await receive(ws, deadline - time.monotonic())) is not None:
                arrival, frame = got
                if frame["t"] < 0:
                    break
                latencies.append(ms(arrival - frame["t"]))
        finally:
            feeder.wait(30)
    return latencies


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    seconds = mode.pick(3.0, 0.5)
    samples: list[Sample] = [{} for _ in range(mode.repeats)]
    stack.use_interval(0.1)
    for sample in samples:
        group = uuid_lib.uuid4().hex
        layer = stack.subprocess(
            "feed-layer", ["bench.feeders", "layer", group, f"{RATE}", f"{seconds}"]
        )
        bare = asyncio.run(
            watch_feed(
                f"{stack.ws_url}/ws/bare/{group}/",
                layer,
                seconds,
                cookie=stack.cookie,
                origin=stack.origin,
            )
        )
        sample.update(_summary("bare", bare))
        sample.update(_summary("lib", asyncio.run(watch_ticker(stack, seconds))))
    stack.use_interval(0.0)
    _run_at_interval_0(stack, samples, seconds)
    return samples


def _run_at_interval_0(stack: Stack, samples: list[Sample], seconds: float) -> None:
    """In turns: the raw floor, the ticker on the stack's daphne and worker
    (``RedisChannelLayer``), and on a second pair using ``RedisPubSubChannelLayer``
    (the other worker paused)."""
    channel, relay_port = f"bench.raw.{uuid_lib.uuid4().hex}", free_port()
    relay = stack.subprocess("relay", ["bench.relay", stack.redis_url, channel, str(relay_port)])
    daphne, worker, port = stack.second_node(pubsub=True, interval=0.0)
    pubsub_url = f"ws://127.0.0.1:{port}"
    try:
        relay.start()
        daphne.start()
        worker.start(timeout=60)
        wait_until(lambda: port_open(relay_port), 30, "the Redis relay")
        for sample in samples:
            raw = stack.subprocess(
                "feed-redis",
                ["bench.feeders", "redis", stack.redis_url, channel, f"{RATE}", f"{seconds}"],
            )
            floor = asyncio.run(watch_feed(f"ws://127.0.0.1:{relay_port}/", raw, seconds))
            sample.update(_summary("raw", floor))
            _use_worker(stack, "bench", paused="worker-pubsub")
            sample.update(_summary("lib0", asyncio.run(watch_ticker(stack, seconds))))
            _use_worker(stack, "worker-pubsub", paused="bench")
            latencies = asyncio.run(watch_ticker(stack, seconds, pubsub_url))
            sample.update(_summary("pubsub0", latencies))
    finally:
        relay.stop()
        daphne.stop()
        worker.stop()
        stack.pause_worker(False)


def _use_worker(stack: Stack, name: str, *, paused: str) -> None:
    """Have the next tasks run on the worker ``name``: the other one stops taking them."""
    stack.pause_worker(True, paused)
    stack.pause_worker(False, name)


def _every(quantile: str) -> str:
    return f"{quantile}, every call pushed (interval 0)"


def _default(quantile: str) -> str:
    return f"{quantile}, default interval 0.1 s"


def _at_most(ratio: float) -> Target:
    return Target(op="<=", value=ratio, on_ratio=True)


METRICS = (
    Metric(
        label=_every("p50"),
        key="lib0_p50",
        unit="ms",
        baseline_key="bare_p50",
        baseline_label=BARE,
        target=_at_most(1.5),
    ),
    Metric(
        label=f"{_every('p50')}, {CORE}",
        key="lib0_p50",
        unit="ms",
        baseline_key="raw_p50",
        baseline_label=RAW,
        target=_at_most(4),
    ),
    Metric(
        label=f"{_every('p50')}, {PUBSUB}",
        key="pubsub0_p50",
        unit="ms",
        baseline_key="raw_p50",
        baseline_label=RAW,
        target=_at_most(2),
    ),
    Metric(
        label=_every("p99"), key="lib0_p99", unit="ms", baseline_key="bare_p99", baseline_label=BARE
    ),
    Metric(
        label=f"{_every('p99')}, {CORE}",
        key="lib0_p99",
        unit="ms",
        baseline_key="raw_p99",
        baseline_label=RAW,
    ),
    Metric(
        label=f"{_every('p99')}, {PUBSUB}",
        key="pubsub0_p99",
        unit="ms",
        baseline_key="raw_p99",
        baseline_label=RAW,
    ),
    Metric(
        label=_default("p50"),
        key="lib_p50",
        unit="ms",
        baseline_key="bare_p50",
        baseline_label=BARE,
    ),
    Metric(
        label=_default("p99"),
        key="lib_p99",
        unit="ms",
        baseline_key="bare_p99",
        baseline_label=BARE,
    ),
    Metric(
        label="values pushed per run, interval 0 / 0.1 s",
        key="lib0_n",
        unit="",
        baseline_key="lib_n",
        baseline_label="interval 0.1 s",
    ),
)

SCENARIO = Scenario(name="push", title="1. Push latency", metrics=METRICS, run=_run)
