"""Fan-out: N WebSocket clients on one daphne process watch one running task.

The task (``bench-ticker``, 200 calls a second with default coalescing) is
created first and enqueued once every client has its snapshot, so the memory
figure is daphne's resident memory with N idle subscribed connections, less
its memory before them (fresh daphne, warmed by a few connections), over N.
The baseline is the bare consumer with N clients, fed 10 events a second (the
library's coalesced rate) by ``group_send`` from a separate process.

Correctness, per client of the library: the final state arrives, nothing arrives in the
second after it, every frame follows the one before (``seq`` grows, an update applies
on the ``seq`` the client has), and the final state equals ``GET /tasks/<uuid>/``
afterwards. "Final state after the task's end" runs from the ticker's last call (the
final state's progress, a time on the shared clock) to the final frame's arrival.
``BENCH_SERVER=uvicorn`` (or ``granian``; ``--servers`` runs each) serves the bench
project with that server instead of daphne;
``BENCH_FANOUT_BARE=0`` leaves out the bare consumer; ``BENCH_FANOUT_FLOOR=1`` adds the
server's floor: a raw ASGI application (``bench/raw_asgi.py``) on the same server, N idle
connections (memory, idle CPU, memory held after they close).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
import uuid as uuid_lib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from ..harness import Stack
from ..httpload import HttpConnection
from ..lean_ws import HEARTBEAT, connect
from ..lean_ws import LeanSocket as ClientConnection
from ..processes import Process, cpu_seconds, free_port, port_open, rss_bytes, server_argv
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, now_us, progress_of, subscribe
from .base import Mode, Scenario, ms

CONNECTING = 50  # connections opened at once
BARE_RATE = 10.0
AFTER_FINAL = 1.0  # seconds a client keeps listening after the final state
KEPT_AFTER = 5.0  # seconds after the last close when the memory still held is read
# The idle window: a round of the clients' heartbeats and of the servers' keepalive pings
# (every 20 s on daphne and uvicorn), whatever their phase when it begins.
IDLE = HEARTBEAT


@dataclass
class Seen:
    """What one client received."""

    latencies: list[float] = field(default_factory=list)
    first: int = 0
    last: int = 0
    final: bool = False
    final_at: int = 0
    snapshots: int = 0
    closed: bool = False
    end: int = 0  # the task's last call (µs), as the final state tells it
    task: dict[str, Any] | None = None  # the final state
    seq: int = -1  # of the last frame
    disorder: int = 0  # frames that did not follow the one before
    after_final: int = 0  # frames after the final state


async def _open(stack: Stack, url: str, n: int, *, strict: bool = True) -> list[ClientConnection]:
    """``n`` connections; unless ``strict``, those that could not open are left out."""
    gate = asyncio.Semaphore(CONNECTING)

    async def one() -> ClientConnection:
        async with gate:
            return await connect(url, cookie=stack.cookie, origin=stack.origin)

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    sockets = [ws for ws in results if isinstance(ws, ClientConnection)]
    if len(sockets) < n and strict:
        await _close(sockets)
        errors = [r for r in results if isinstance(r, BaseException)]
        raise RuntimeError(
            f"only {len(sockets)} of {n} connections opened; first error: {errors[0]!r}"
        )
    return sockets


async def _close(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def receive(ws: ClientConnection, timeout: float) -> tuple[int, dict[str, Any]] | None:
    """The next JSON frame and the time its bytes arrived (µs), or ``None`` after
    ``timeout`` s of silence."""
    try:
        raw = await asyncio.wait_for(ws.recv(), max(timeout, 0.001))
    except TimeoutError:
        return None
    frame: dict[str, Any] = json.loads(raw)
    return ws.arrival, frame


async def _snapshot(ws: ClientConnection, uuid: str) -> bool:
    """Subscribe and wait for the snapshot; ``False`` if the server closed the connection."""
    try:
        await subscribe(ws, uuid)
        got = await receive(ws, 60)
    except ConnectionClosed:
        return False
    return got is not None and got[1]["type"] == "snapshot"


async def _watch_task(ws: ClientConnection, since: int, deadline: float) -> Seen:
    seen = Seen()
    try:
        await _follow_task(ws, since, deadline, seen)
        if seen.final:
            while await receive(ws, AFTER_FINAL) is not None:
                seen.after_final += 1
    except ConnectionClosed:
        seen.closed = True
    return seen


def _in_order(seen: Seen, frame: dict[str, Any]) -> None:
    """Count ``frame`` as out of order unless it follows what the client has."""
    seq = frame.get("seq")
    if not isinstance(seq, int):
        return
    if seen.seq < 0:  # the first frame after the snapshot, read before
        follows = True
    elif frame["type"] == "update":
        follows = frame.get("base", seq - 1) == seen.seq
    else:
        follows = seq > seen.seq
    seen.disorder += not follows
    seen.seq = max(seen.seq, seq)


async def _follow_task(ws: ClientConnection, since: int, deadline: float, seen: Seen) -> None:
    # One timer for all the frames, not one per frame: 10,000 clients share the
    # server's two cores, so their own cost per frame is kept low.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline - time.monotonic()):
            while True:
                raw = await ws.recv()
                if _take(seen, since, ws.arrival, json.loads(raw)):
                    return


def _take(seen: Seen, since: int, arrival: int, frame: dict[str, Any]) -> bool:
    """Note a frame of the watched task; whether it was the final state."""
    _in_order(seen, frame)
    if frame["type"] == "snapshot":
        seen.snapshots += 1
        if is_terminal(frame):
            seen.final, seen.final_at = frame["task"]["status"] == "succeeded", arrival
            seen.task = frame["task"]
            progress = frame["task"]["progress"]
            seen.end = progress if isinstance(progress, int) else 0
            return True
        return False
    value = progress_of(frame)
    if value is not None and value >= since:
        seen.latencies.append(ms(arrival - value))
        seen.first, seen.last = seen.first or arrival, arrival
    return False


async def _watch_feed(ws: ClientConnection, deadline: float) -> Seen:
    seen = Seen()
    try:
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            arrival, frame = got
            if frame["t"] < 0:
                seen.final, seen.final_at = True, arrival
                break
            seen.latencies.append(ms(arrival - frame["t"]))
            seen.first, seen.last = seen.first or arrival, arrival
    except ConnectionClosed:
        seen.closed = True
    return seen


def _after_end(seen: list[Seen]) -> Sample:
    """From the task's last call to the final state, at the first client, p50 and the last."""
    after = sorted(ms(one.final_at - one.end) for one in seen if one.final and one.end)
    if len(after) < len(seen) or not after:
        return {"lib_end_first": math.nan, "lib_end_p50": math.nan, "lib_end_last": math.nan}
    return {
        "lib_end_first": after[0],
        "lib_end_p50": percentile(after, 50),
        "lib_end_last": after[-1],
    }


async def _checks(stack: Stack, uuid: str, seen: list[Seen]) -> Sample:
    """Frames after the final state, out of order, and final states unlike ``GET``."""
    connection = HttpConnection(stack.port, stack.basic_auth)
    try:
        status, stored = await connection.json("GET", f"/tasks/{uuid}/")
    finally:
        await connection.close()
    if status != 200:
        raise RuntimeError(f"GET /tasks/{uuid}/ answered {status}: {stored!r}")
    return {
        "lib_after_final": float(sum(one.after_final for one in seen)),
        "lib_disorder": float(sum(one.disorder for one in seen)),
        "lib_unlike_get": float(sum(one.final and one.task != stored for one in seen)),
    }


def _summary(prefix: str, n: int, measured: tuple[int, float, int, list[Seen], int]) -> Sample:
    memory, cpu, began, seen, kept = measured
    latencies = [value for one in seen for value in one.latencies]
    first = min((one.first for one in seen if one.first), default=0)
    last = max((one.last for one in seen), default=0)
    return {
        f"{prefix}_kib": memory / n / 1024,
        f"{prefix}_kept_mib": kept / 2**20,
        f"{prefix}_idle_cpu": cpu,
        f"{prefix}_missed": float(sum(not one.final for one in seen)),
        f"{prefix}_closed": float(sum(one.closed for one in seen)),
        f"{prefix}_rate": len(latencies) / max((last - first) / 1e6, 1e-6),
        f"{prefix}_p50": percentile(latencies, 50),
        f"{prefix}_p99": percentile(latencies, 99),
        f"{prefix}_frames": len(latencies) / n,
        f"{prefix}_resyncs": float(sum(max(one.snapshots - 1, 0) for one in seen)) / n,
        f"{prefix}_all_final": (max(one.final_at for one in seen) - began) / 1e6
        if all(one.final for one in seen)
        else math.nan,
    }


async def _measure(
    stack: Stack,
    url: str,
    n: int,
    idle: float,
    prepare: Callable[[list[ClientConnection]], Awaitable[list[ClientConnection]]],
    go: Callable[[], Awaitable[Any]],
    watch: Callable[[ClientConnection], Coroutine[Any, Any, Seen]],
) -> tuple[int, float, int, list[Seen], int]:
    """Memory of ``n`` prepared connections, daphne's CPU while they idle, when ``go``
    was called (µs), what each connection saw after it, and the memory kept a few
    seconds after every connection closed."""
    await _close(await prepare(await _open(stack, url, 5)))
    await asyncio.sleep(0.5)
    before = stack.daphne_rss()
    sockets = await _open(stack, url, n, strict=False)  # a refused handshake: a missed client
    try:
        ready = await prepare(sockets)
        memory = stack.daphne_rss() - before
        cpu = stack.daphne_cpu()
        await asyncio.sleep(idle)
        cpu = (stack.daphne_cpu() - cpu) / idle * 100
        watching = [asyncio.create_task(watch(ws)) for ws in ready]
        began = now_us()
        await go()
        seen = list(await asyncio.gather(*watching))
    finally:
        await _close(sockets)
    await asyncio.sleep(KEPT_AFTER)
    kept = stack.daphne_rss() - before
    return memory, cpu, began, seen + [Seen(closed=True) for _ in range(n - len(ready))], kept


async def _library(stack: Stack, n: int, seconds: float, idle: float) -> Sample:
    from task_api.engine.dispatch import get_backend
    from task_api.models import TaskRecord
    from task_api.registry import get_task

    inputs = {"rate": 200, "duration": seconds}
    record = await asyncio.to_thread(
        lambda: TaskRecord.objects.create(name="bench-ticker", inputs=inputs, owner=stack.user)
    )
    uuid = str(record.uuid)
    since = now_us()
    deadline = time.monotonic() + seconds + 120

    async def prepare(sockets: list[ClientConnection]) -> list[ClientConnection]:
        gate = asyncio.Semaphore(CONNECTING)

        async def one(ws: ClientConnection) -> bool:
            async with gate:
                return await _snapshot(ws, uuid)

        subscribed = await asyncio.gather(*(one(ws) for ws in sockets))
        return [ws for ws, ok in zip(sockets, subscribed, strict=True) if ok]

    async def go() -> None:
        await asyncio.to_thread(get_backend().dispatch, record, get_task("bench-ticker"))

    url = f"{stack.ws_url}/ws/tasks/"
    measured = await _measure(
        stack, url, n, idle, prepare, go, lambda ws: _watch_task(ws, since, deadline)
    )
    seen = measured[3]
    return {
        **_summary("lib", n, measured),
        **_after_end(seen),
        **await _checks(stack, uuid, seen),
        **await _storm(stack, url, n),
    }


async def _storm(stack: Stack, url: str, n: int) -> Sample:
    """``n`` open connections subscribe to a running task at the same moment: count
    those the server closed, those that got no live update, and those without the
    final state."""
    from task_api.engine.dispatch import get_backend
    from task_api.models import TaskRecord
    from task_api.registry import get_task

    inputs = {"rate": 20, "duration": 3.0}
    record = await asyncio.to_thread(
        lambda: TaskRecord.objects.create(name="bench-ticker", inputs=inputs, owner=stack.user)
    )
    uuid, since = str(record.uuid), now_us()
    sockets = await _open(stack, url, n, strict=False)  # a refused handshake counts as closed
    await asyncio.to_thread(get_backend().dispatch, record, get_task("bench-ticker"))
    deadline = time.monotonic() + 120

    async def one(ws: ClientConnection) -> Seen:
        seen = Seen()
        try:
            await subscribe(ws, uuid)
            await _follow_task(ws, since, deadline, seen)
        except ConnectionClosed:
            seen.closed = True
        return seen

    try:
        seen = await asyncio.gather(*(one(ws) for ws in sockets))
    finally:
        await _close(sockets)
    return {
        "storm_closed": float(sum(one.closed for one in seen) + n - len(sockets)),
        "storm_no_live": float(sum(not one.latencies for one in seen)),
        "storm_missed": float(sum(not one.final for one in seen)),
    }


async def _bare(stack: Stack, n: int, seconds: float, idle: float) -> Sample:
    group = uuid_lib.uuid4().hex
    feeder = stack.subprocess(
        "feed-fanout", ["bench.feeders", "layer", group, f"{BARE_RATE}", f"{seconds}"]
    )
    deadline = time.monotonic() + seconds + 120

    async def prepare(sockets: list[ClientConnection]) -> list[ClientConnection]:
        return sockets

    async def go() -> None:
        feeder.start()

    try:
        measured = await _measure(
            stack,
            f"{stack.ws_url}/ws/bare/{group}/",
            n,
            idle,
            prepare,
            go,
            lambda ws: _watch_feed(ws, deadline),
        )
    finally:
        feeder.wait(30)
    return _summary("bare", n, measured)


async def _floor(stack: Stack, n: int, idle: float) -> Sample:
    """The same server with a raw ASGI application: ``n`` idle connections."""
    port = free_port()
    server = Process(
        "raw-asgi",
        server_argv(sys.executable, port, "bench.raw_asgi:application"),
        log_path=stack.dir / "raw-asgi.log",
        env=stack.env,
        ready=lambda: port_open(port),
    )
    server.start()
    try:
        url = f"ws://127.0.0.1:{port}/"
        await _close(await _open(stack, url, 5))
        await asyncio.sleep(0.5)
        serving = server.serving_pid
        before = rss_bytes(serving)
        sockets = await _open(stack, url, n, strict=False)
        try:
            await asyncio.sleep(1)
            memory = rss_bytes(serving) - before
            cpu = cpu_seconds(serving)
            await asyncio.sleep(idle)
            cpu = (cpu_seconds(serving) - cpu) / idle * 100
        finally:
            await _close(sockets)
        await asyncio.sleep(KEPT_AFTER)
        kept = rss_bytes(serving) - before
    finally:
        server.stop()
    return {
        "floor_kib": memory / max(len(sockets), 1) / 1024,
        "floor_idle_cpu": cpu,
        "floor_kept_mib": kept / 2**20,
    }


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    clients = int(os.environ.get("BENCH_FANOUT_CLIENTS", "1000"))
    n, seconds, idle = mode.pick(clients, 20), mode.pick(3.0, 0.5), mode.pick(IDLE, 0.5)
    stack.use_interval(0.1)
    samples = []
    for _ in range(mode.repeats):
        stack.restart_daphne()
        sample = asyncio.run(_library(stack, n, seconds, idle))
        if os.environ.get("BENCH_FANOUT_FLOOR") == "1":
            sample.update(asyncio.run(_floor(stack, n, idle)))
        if os.environ.get("BENCH_FANOUT_BARE", "1") != "0":
            stack.restart_daphne()
            sample.update(asyncio.run(_bare(stack, n, seconds, idle)))
        samples.append(sample)
    return samples


def _versus(label: str, key: str, unit: str, aggregate: str = "median") -> Metric:
    return Metric(
        label=label,
        key=f"lib_{key}",
        unit=unit,
        baseline_key=f"bare_{key}",
        baseline_label="bare consumer, same clients",
        aggregate=aggregate,
    )


METRICS = (
    Metric(
        label="clients without the final state",
        key="lib_missed",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(
        label="frames after the final state",
        key="lib_after_final",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(
        label="frames out of order (seq, base)",
        key="lib_disorder",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(
        label="final states unlike GET /tasks/<uuid>/",
        key="lib_unlike_get",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
    Metric(label="task's end to final state, first client", key="lib_end_first", unit="ms"),
    Metric(label="task's end to final state, p50", key="lib_end_p50", unit="ms"),
    Metric(
        label="task's end to final state, last client",
        key="lib_end_last",
        unit="ms",
        target=Target(op="<=", value=1000),
    ),
    _versus("connections closed by the server", "closed", "", "max"),
    _versus("server memory per connection", "kib", "KiB"),
    _versus("server memory still held 5 s after every socket closed", "kept_mib", "MiB"),
    _versus("server CPU with the clients idle (of one core)", "idle_cpu", "%"),
    Metric(label="floor: raw ASGI app, memory per idle connection", key="floor_kib", unit="KiB"),
    Metric(label="floor: raw ASGI app, CPU idle (of one core)", key="floor_idle_cpu", unit="%"),
    Metric(
        label="floor: raw ASGI app, memory held 5 s after close", key="floor_kept_mib", unit="MiB"
    ),
    _versus("start of events to final state at every client", "all_final", "s"),
    _versus("frames delivered per client", "frames", ""),
    _versus("delivered frames/s, all clients", "rate", "/s"),
    _versus("set_progress (send) to client, p50", "p50", "ms"),
    _versus("set_progress (send) to client, p99", "p99", "ms"),
    Metric(label="extra snapshots per client (resync)", key="lib_resyncs", unit=""),
    Metric(
        label="all subscribe at once to a running task: connections closed",
        key="storm_closed",
        unit="",
        aggregate="max",
    ),
    Metric(
        label="all subscribe at once: clients with no live update",
        key="storm_no_live",
        unit="",
        aggregate="max",
    ),
    Metric(
        label="all subscribe at once: clients without the final state",
        key="storm_missed",
        unit="",
        target=Target(op="==", value=0),
        aggregate="sum",
        check=True,
    ),
)

SCENARIO = Scenario(name="fanout", title="6. Fan-out", metrics=METRICS, run=_run)
