"""Streams: one task writes 2,000 chunks a second, watched by WebSocket clients.

The task (``bench-stream``, in the Celery worker) writes chunk ``i`` as
``"<i>:<µs of the write>"``; each client subscribes to the stream before the task
is dispatched and takes, for every chunk, its arrival minus its write time, the
bytes of the frames that carried it (WebSocket header included) and which
positions came (lost or duplicated chunks). The database writes are what the run
left: the stream's block rows, and the task row's ``seq`` (one per flush, plus the
start and the final write). The CPU of daphne, of the worker and its pool, and of
the clients (this process) is taken from the dispatch to the end at the last client.

The floor is raw Redis pub/sub in the same run: a publisher process sends the
same chunks at the same rate, one ``PUBLISH`` each, to as many subscribers in
this process, each a bare socket reading RESP (no client library in the way).
In turns with it: the library at ``INTERVAL`` (``BENCH_STREAM_INTERVAL``, by
default 0.1 s, the library's default) and at 0 on the stack's
``RedisChannelLayer``, and at 0 on a second daphne and worker using
``RedisPubSubChannelLayer``; then 1,000 clients at ``INTERVAL``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import resource
import time
import uuid as uuid_lib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from ..harness import Stack
from ..lean_ws import LeanSocket as ClientConnection
from ..processes import Process, cpu_seconds, tree_cpu_seconds
from ..stats import Metric, Sample, Target, percentile
from ..ws import now_us
from .base import Mode, Scenario, ms
from .fanout import CONNECTING, _close, _open
from .push_latency import _use_worker

RATE = 2000.0
#: The interval of the first runs and of the 1,000 clients (the library's default).
INTERVAL = float(os.environ.get("BENCH_STREAM_INTERVAL", "0.1"))
RAW = "raw Redis pub/sub, same clients"
CORE = "RedisChannelLayer"
PUBSUB = "pub/sub layer"
RAW_100 = "raw Redis pub/sub, the 100-client run"
DONE = b'"done":true'
#: One message of a Redis subscription: its payload is group 1.
MESSAGE = re.compile(rb"\*3\r\n\$7\r\nmessage\r\n\$\d+\r\n[^\r]*\r\n\$\d+\r\n([^\r]*)\r\n")


@dataclass
class Got:
    """What one client received of the stream. During the run it only stamps and keeps
    what arrives (WebSocket frames, or Redis socket reads, as bytes); :meth:`tally`
    parses it afterwards, so that the clients' own work stays off the two shared
    cores while the stream runs."""

    count: int
    raw: bool = False  # Redis socket reads, else WebSocket frames
    received: list[tuple[int, bytes]] = field(default_factory=list)
    wire: int = 0  # bytes received, framing included
    done_at: int = 0  # µs; 0 when the end never came
    closed: bool = False
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    first_write: int = 0  # µs of the first chunk's write
    last_write: int = 0  # µs of the last chunk's write

    def batches(self) -> Iterator[tuple[int, list[Any]]]:
        """Each arrival with the chunks it completed."""
        if not self.raw:
            for arrival, data in self.received:
                yield arrival, json.loads(data)["chunks"]
            return
        buffer = b""
        for arrival, data in self.received:
            buffer += data
            # Complete messages only: the last one may still be on its way.
            cut = max(buffer.rfind(b"*3\r\n$7\r\nmessage\r\n"), 0)
            if last := MESSAGE.match(buffer, cut):
                cut = last.end()
            chunks = MESSAGE.findall(buffer, 0, cut)
            buffer = buffer[cut:]
            yield arrival, [chunk for chunk in chunks if chunk != b"end"]

    def tally(self) -> Got:
        """Latency of every chunk ``"<i>:<µs>"``, and which ``i`` came how often."""
        self.frames = len(self.received)
        seen = bytearray(self.count)
        writes: list[int] = []
        for arrival, chunks in self.batches():
            for chunk in chunks:
                index, _, written = chunk.partition(":" if isinstance(chunk, str) else b":")
                i, t = int(index), int(written)
                if i < len(seen):
                    seen[i] = min(seen[i] + 1, 255)
                self.latencies.append((arrival - t) / 1000.0)
                writes.append(t)
        if writes:
            self.first_write, self.last_write = min(writes), max(writes)
        self.received = []
        self.lost = seen.count(0)
        self.duplicated = sum(n - 1 for n in seen if n > 1)
        return self


def _ws_wire(payload: int) -> int:
    """The bytes of an unmasked server-to-client frame of ``payload`` bytes."""
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


async def _subscribe(ws: ClientConnection, uuid: str) -> bool:
    """Subscribe to the stream and take the empty first frame (the task is pending)."""
    try:
        await ws.send(json.dumps({"type": "subscribe", "uuid": uuid, "stream": "answer"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
    except (ConnectionClosed, TimeoutError):
        return False
    return bool(frame.get("type") == "chunks" and frame["next"] == 0)


async def _follow(ws: ClientConnection, got: Got, deadline: float) -> Got:
    try:
        while True:
            data = await asyncio.wait_for(
                ws.recv(decode=False), max(deadline - time.monotonic(), 0.001)
            )
            arrival = now_us()
            got.wire += _ws_wire(len(data))
            got.received.append((arrival, data))
            if DONE in data:  # the chunks are "<i>:<µs>": only the frame's field matches
                got.done_at = arrival
                return got
    except (ConnectionClosed, TimeoutError):
        got.closed = True
    return got


@dataclass
class Streamed:
    """A run of the library: what each client got, the task's record, and the CPU
    seconds daphne, the worker and the clients used from the dispatch to the end at
    the last client."""

    got: list[Got]
    record: Any
    daphne_cpu: float
    worker_cpu: float
    client_cpu: float  # this process: the clients


async def _library(
    stack: Stack,
    clients: int,
    seconds: float,
    node: tuple[str, Process, Process] | None = None,
) -> Streamed:
    """Subscribe ``clients`` to a new task's stream on ``node`` (WebSocket URL, daphne,
    worker; default: the stack's), dispatch it, and follow it to the end."""
    from task_api.engine.dispatch import get_backend
    from task_api.models import TaskRecord
    from task_api.registry import get_task

    ws_url, daphne, worker = node or (stack.ws_url, stack.daphne, stack.worker)
    inputs = {"rate": RATE, "duration": seconds}
    record = await asyncio.to_thread(
        lambda: TaskRecord.objects.create(name="bench-stream", inputs=inputs, owner=stack.user)
    )
    uuid, count = str(record.uuid), int(RATE * seconds)
    sockets = await _open(stack, f"{ws_url}/ws/tasks/", clients, strict=False)
    try:
        gate = asyncio.Semaphore(CONNECTING)

        async def subscribe(ws: ClientConnection) -> bool:
            async with gate:
                return await _subscribe(ws, uuid)

        subscribed = await asyncio.gather(*(subscribe(ws) for ws in sockets))
        ready = [ws for ws, ok in zip(sockets, subscribed, strict=True) if ok]
        deadline = time.monotonic() + seconds + 120
        following = [asyncio.create_task(_follow(ws, Got(count), deadline)) for ws in ready]
        cpu = cpu_seconds(daphne.serving_pid), tree_cpu_seconds(worker.pid), _own_cpu()
        await asyncio.to_thread(get_backend().dispatch, record, get_task("bench-stream"))
        got = list(await asyncio.gather(*following))
        cpu = (
            cpu_seconds(daphne.serving_pid) - cpu[0],
            tree_cpu_seconds(worker.pid) - cpu[1],
            _own_cpu() - cpu[2],
        )
    finally:
        await _close(sockets)
    got += [Got(count, closed=True) for _ in range(clients - len(ready))]
    await asyncio.to_thread(record.refresh_from_db)
    return Streamed(got, record, *cpu)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _raw(stack: Stack, clients: int, seconds: float) -> tuple[list[Got], float]:
    """``clients`` bare RESP subscribers, fed by a publisher process at the same rate."""
    channel, count = f"bench.stream.{uuid_lib.uuid4().hex}", int(RATE * seconds)
    command = f"*2\r\n$9\r\nSUBSCRIBE\r\n${len(channel)}\r\n{channel}\r\n".encode()
    gate = asyncio.Semaphore(CONNECTING)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", stack.redis_port)
            writer.write(command)
            await reader.readuntil(b":1\r\n")  # the subscription is confirmed
            return reader, writer

    async def follow(reader: asyncio.StreamReader, got: Got, deadline: float) -> Got:
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(1 << 16), deadline - time.monotonic())
            except TimeoutError:
                break
            arrival = now_us()
            if not data:
                got.closed = True
                break
            got.wire += len(data)
            got.received.append((arrival, data))
            if data.endswith(b"$3\r\nend\r\n"):
                got.done_at = arrival
                break
        return got

    connections = await asyncio.gather(*(connect() for _ in range(clients)))
    feeder = stack.subprocess(
        "feed-stream",
        ["bench.feeders", "redis-stream", stack.redis_url, channel, f"{RATE}", f"{seconds}"],
    )
    try:
        deadline = time.monotonic() + seconds + 60
        following = [
            asyncio.create_task(follow(r, Got(count, raw=True), deadline)) for r, _ in connections
        ]
        cpu = _own_cpu()
        feeder.start()
        got = list(await asyncio.gather(*following))
        cpu = _own_cpu() - cpu
        feeder.wait(30)
    finally:
        feeder.stop()
        for _, writer in connections:
            writer.close()
    return got, cpu


def _summary(prefix: str, got: list[Got]) -> Sample:
    firsts = [one.received[0][0] for one in got if one.received]
    for one in got:
        one.tally()
    latencies = [value for one in got for value in one.latencies]
    chunks = len(latencies)
    ends = [one.done_at - one.last_write for one in got if one.done_at]
    span = (max((one.done_at for one in got), default=0) - min(firsts, default=0)) / 1e6
    return {
        f"{prefix}_p50": percentile(latencies, 50),
        f"{prefix}_p99": percentile(latencies, 99),
        f"{prefix}_bytes": sum(one.wire for one in got) / chunks if chunks else math.nan,
        f"{prefix}_lost": float(sum(one.lost for one in got)),
        f"{prefix}_duplicated": float(sum(one.duplicated for one in got)),
        f"{prefix}_missed": float(sum(not one.done_at for one in got)),
        f"{prefix}_rate": chunks / span if span > 0 else math.nan,
        f"{prefix}_frames": float(sum(one.frames for one in got)),
        f"{prefix}_span": span,
        f"{prefix}_end": ms(max(ends)) if len(ends) == len(got) else math.nan,
    }


def _library_summary(prefix: str, run: Streamed, interval: float) -> Sample:
    sample = _summary(prefix, run.got)
    sample.update(_writes(prefix, run.record, run.got, interval))
    frames = sample[f"{prefix}_frames"]
    sample[f"{prefix}_cpu_frame"] = run.daphne_cpu / frames * 1e6 if frames else math.nan
    span = sample[f"{prefix}_span"]
    sample[f"{prefix}_daphne"] = run.daphne_cpu / span * 100 if span > 0 else math.nan
    sample[f"{prefix}_worker"] = run.worker_cpu / span * 100 if span > 0 else math.nan
    sample[f"{prefix}_client"] = run.client_cpu / span * 100 if span > 0 else math.nan
    return sample


def _raw_summary(prefix: str, got: list[Got], cpu: float) -> Sample:
    sample = _summary(prefix, got)
    span = sample[f"{prefix}_span"]
    sample[f"{prefix}_client"] = cpu / span * 100 if span > 0 else math.nan
    return sample


def _writes(prefix: str, record: Any, got: list[Got], interval: float) -> Sample:
    """The database writes of the run, per second of writing (first to last chunk's
    write), and their bound: one flush per interval, plus the first and final writes."""
    from task_api.models import StreamBlock

    if record.status != "succeeded":
        raise RuntimeError(f"bench-stream ended {record.status}: {record.error}")
    first = min((one.first_write for one in got if one.first_write), default=0)
    seconds = max(max(one.last_write for one in got) - first, 1) / 1e6
    blocks = StreamBlock.objects.filter(task=record).count()
    return {
        f"{prefix}_blocks": blocks / seconds,
        # Every write of the task row bumps seq: the start, each flush, the final write.
        f"{prefix}_updates": (record.seq - 1) / seconds,
        f"{prefix}_cap": (seconds / interval + 2) / seconds if interval else math.nan,
        f"{prefix}_seconds": seconds,
    }


def _in_turns(
    stack: Stack, samples: list[Sample], clients: int, seconds: float, interval: float
) -> None:
    """The raw floor and the library on the stack's daphne and worker, in turns."""
    stack.use_interval(interval)
    lib, raw = ("lib", "raw") if interval else ("lib0", "raw0")
    for sample in samples:
        sample.update(_raw_summary(raw, *asyncio.run(_raw(stack, clients, seconds))))
        run = asyncio.run(_library(stack, clients, seconds))
        sample.update(_library_summary(lib, run, interval))


def _on_pubsub(stack: Stack, samples: list[Sample], clients: int, seconds: float) -> None:
    """Interval 0 on a second daphne and worker using ``RedisPubSubChannelLayer`` (the
    stack's worker paused), in turns with the raw floor."""
    daphne, worker, port = stack.second_node(pubsub=True, interval=0.0)
    try:
        daphne.start()
        worker.start(timeout=60)
        _use_worker(stack, "worker-pubsub", paused="bench")
        for sample in samples:
            sample.update(_raw_summary("rawps", *asyncio.run(_raw(stack, clients, seconds))))
            node = (f"ws://127.0.0.1:{port}", daphne, worker)
            run = asyncio.run(_library(stack, clients, seconds, node))
            sample.update(_library_summary("pubsub0", run, 0.0))
    finally:
        daphne.stop()
        worker.stop()
        stack.pause_worker(False)


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    clients = mode.pick(int(os.environ.get("BENCH_STREAM_CLIENTS", "100")), 10)
    many = mode.pick(int(os.environ.get("BENCH_STREAM_FANOUT", "1000")), 20)
    seconds = mode.pick(3.0, 0.5)
    samples: list[Sample] = [{"load": os.getloadavg()[0]} for _ in range(mode.repeats)]
    _in_turns(stack, samples, clients, seconds, INTERVAL)
    _in_turns(stack, samples, clients, seconds, 0.0)
    _on_pubsub(stack, samples, clients, seconds)
    stack.use_interval(INTERVAL)
    for sample in samples:
        run = asyncio.run(_library(stack, many, seconds))
        sample.update(_library_summary("many", run, INTERVAL))
        sample["load_end"] = os.getloadavg()[0]
    for sample in samples:
        sample["missed"] = sum(sample[f"{lib}_missed"] for lib in ("lib", "lib0", "pubsub0"))
        sample["raw_all_lost"] = sum(sample[f"{raw}_lost"] for raw in ("raw", "raw0", "rawps"))
    return samples


def _versus(label: str, key: str, unit: str, lib: str = "lib", **more: Any) -> Metric:
    raw = {"lib": "raw", "lib0": "raw0", "pubsub0": "rawps"}[lib]
    return Metric(
        label=label,
        key=f"{lib}_{key}",
        unit=unit,
        baseline_key=f"{raw}_{key}",
        baseline_label=RAW,
        **more,
    )


def _zero(label: str, key: str) -> Metric:
    return Metric(
        label=label, key=key, unit="", target=Target(op="==", value=0), aggregate="sum", check=True
    )


def _bounded(label: str, key: str) -> Metric:
    """Writes per second against one flush per interval, plus the first and final writes."""
    prefix = key.partition("_")[0]
    return Metric(
        label=label,
        key=key,
        unit="/s",
        baseline_key=f"{prefix}_cap",
        baseline_label="1 / TASK_API_PROGRESS_INTERVAL, plus 2 writes",
        target=Target(op="<=", value=1, on_ratio=True),
        aggregate="max",
        check=True,
    )


DEFAULT = "default interval 0.1 s" if INTERVAL == 0.1 else f"interval {INTERVAL:g} s"
EVERY = "interval 0"
WITHIN_2X = Target(op="<=", value=2, on_ratio=True)

METRICS = (
    _versus(f"write to client, p50, {DEFAULT}", "p50", "ms"),
    _versus(f"write to client, p99, {DEFAULT}", "p99", "ms"),
    _versus(f"write to client, p50, {EVERY}, {CORE}", "p50", "ms", "lib0", target=WITHIN_2X),
    _versus(f"write to client, p99, {EVERY}, {CORE}", "p99", "ms", "lib0"),
    _versus(f"write to client, p50, {EVERY}, {PUBSUB}", "p50", "ms", "pubsub0", target=WITHIN_2X),
    _versus(f"write to client, p99, {EVERY}, {PUBSUB}", "p99", "ms", "pubsub0"),
    _versus(f"bytes on the wire per chunk, {DEFAULT}", "bytes", "B"),
    _versus(f"bytes on the wire per chunk, {EVERY}, {CORE}", "bytes", "B", "lib0"),
    _versus(f"bytes on the wire per chunk, {EVERY}, {PUBSUB}", "bytes", "B", "pubsub0"),
    Metric(label=f"daphne CPU per frame sent, {DEFAULT}", key="lib_cpu_frame", unit="µs"),
    Metric(label=f"daphne CPU per frame sent, {EVERY}, {CORE}", key="lib0_cpu_frame", unit="µs"),
    Metric(
        label=f"daphne CPU per frame sent, {EVERY}, {PUBSUB}", key="pubsub0_cpu_frame", unit="µs"
    ),
    Metric(
        label=f"daphne CPU during the stream (of one core), {DEFAULT}", key="lib_daphne", unit="%"
    ),
    Metric(
        label=f"worker CPU during the stream (of one core), {DEFAULT}", key="lib_worker", unit="%"
    ),
    Metric(
        label=f"daphne / worker CPU during the stream, {EVERY}, {CORE}",
        key="lib0_daphne",
        unit="%",
        baseline_key="lib0_worker",
        baseline_label="worker",
    ),
    Metric(
        label=f"daphne / worker CPU during the stream, {EVERY}, {PUBSUB}",
        key="pubsub0_daphne",
        unit="%",
        baseline_key="pubsub0_worker",
        baseline_label="worker",
    ),
    _versus(f"the clients' CPU during the stream (of one core), {DEFAULT}", "client", "%"),
    _versus(f"the clients' CPU during the stream, {EVERY}, {CORE}", "client", "%", "lib0"),
    _versus(f"the clients' CPU during the stream, {EVERY}, {PUBSUB}", "client", "%", "pubsub0"),
    _bounded(f"stream block rows written per second, {DEFAULT}", "lib_blocks"),
    _bounded(f"task row UPDATEs per second, {DEFAULT}", "lib_updates"),
    Metric(
        label=f"stream block rows written per second, {EVERY}, {CORE}", key="lib0_blocks", unit="/s"
    ),
    Metric(
        label=f"stream block rows written per second, {EVERY}, {PUBSUB}",
        key="pubsub0_blocks",
        unit="/s",
    ),
    _zero(f"chunks lost, all clients, {DEFAULT}", "lib_lost"),
    _zero(f"chunks duplicated, all clients, {DEFAULT}", "lib_duplicated"),
    _zero(f"chunks lost, all clients, {EVERY}, {CORE}", "lib0_lost"),
    _zero(f"chunks duplicated, all clients, {EVERY}, {CORE}", "lib0_duplicated"),
    _zero(f"chunks lost, all clients, {EVERY}, {PUBSUB}", "pubsub0_lost"),
    _zero(f"chunks duplicated, all clients, {EVERY}, {PUBSUB}", "pubsub0_duplicated"),
    _zero("clients without the end of the stream, 100-client runs", "missed"),
    _versus(f"last write to the end at every client, {DEFAULT}", "end", "ms"),
    _versus(f"last write to the end at every client, {EVERY}, {CORE}", "end", "ms", "lib0"),
    Metric(
        label="raw floor: messages lost, all runs", key="raw_all_lost", unit="", aggregate="sum"
    ),
    Metric(
        label=f"1,000 clients: write to client, p50, {DEFAULT}",
        key="many_p50",
        unit="ms",
        baseline_key="raw_p50",
        baseline_label=RAW_100,
    ),
    Metric(
        label="1,000 clients: write to client, p99",
        key="many_p99",
        unit="ms",
        baseline_key="raw_p99",
        baseline_label=RAW_100,
    ),
    Metric(
        label="1,000 clients: chunks delivered per second, all clients", key="many_rate", unit="/s"
    ),
    Metric(label="1,000 clients: bytes on the wire per chunk", key="many_bytes", unit="B"),
    Metric(label="1,000 clients: daphne CPU per frame sent", key="many_cpu_frame", unit="µs"),
    Metric(
        label="1,000 clients: daphne / the clients' CPU during the stream (of one core)",
        key="many_daphne",
        unit="%",
        baseline_key="many_client",
        baseline_label="the clients",
    ),
    _zero("1,000 clients: chunks lost", "many_lost"),
    _zero("1,000 clients: chunks duplicated", "many_duplicated"),
    _zero("1,000 clients: clients without the end of the stream", "many_missed"),
    Metric(label="1,000 clients: last write to the end at every client", key="many_end", unit="ms"),
    _bounded("1,000 clients: stream block rows written per second", "many_blocks"),
    Metric(label="load average (1 min) at the start", key="load", unit=""),
    Metric(label="load average (1 min) at the end", key="load_end", unit=""),
)

SCENARIO = Scenario(name="streams", title="11. Streams", metrics=METRICS, run=_run)
