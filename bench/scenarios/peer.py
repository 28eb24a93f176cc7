"""The peer: celery-progress in its WebSocket mode, against the library, on the same stack.

Both run in the same Celery worker and the same daphne (celery-progress's
``ProgressConsumer`` routed at ``/ws/progress/<task_id>/``, its tasks in
``bench.peer_tasks``, Celery's result backend on the bench's Redis). The peer's
clients behave as its JavaScript client does: connect to the task's URL and send
``{"type": "check_task_completion"}`` on open. Measured side by side:

- push latency: a ticker task whose progress values are the µs of their calls
  (the library at its default interval and at interval 0; the peer pushes
  every call, it has no interval);
- a burst of progress calls as fast as the task can: time from the burst's
  start to the final state at the client, or whether it never comes;
- a late subscriber, connected after the task has finished;
- fan-out: N clients watch one ticker task: how many get the final state, and
  when the last one does (from the dispatch of a task running ``FAN_SECONDS``);
- what a second user sees of the first user's task (the peer's consumer has
  no notion of users: a client without a session);
- the cost of one progress call inside the task (the peer's is timed by its
  tasks; the library's by ``bench-spin`` as in scenario 2).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid as uuid_lib
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..harness import Stack
from ..stats import Metric, Sample, Target, percentile
from ..ws import is_terminal, now_us, open_socket, progress_of, receive, subscribe
from .base import Mode, Scenario, ms, start_task, wait_until
from .burst import watch_burst
from .fanout import CONNECTING
from .progress_cost import _spin
from .push_latency import RATE, watch_ticker

FAN_RATE = 20.0
FAN_SECONDS = 1.0
SECOND_USER = ("bench-other", "bench-other-password")


def _peer_url(stack: Stack, task_id: str) -> str:
    return f"{stack.ws_url}/ws/progress/{task_id}/"


async def _peer_open(stack: Stack, task_id: str, *, cookie: str | None = None) -> ClientConnection:
    """A peer client: connect and ask for the task's state, as its JavaScript does."""
    ws: ClientConnection = await open_socket(
        _peer_url(stack, task_id),
        cookie=stack.cookie if cookie is None else cookie,
        origin=stack.origin,
    )
    await ws.send(json.dumps({"type": "check_task_completion"}))
    return ws


@dataclass
class PeerSeen:
    """What one peer client received."""

    latencies: list[float] = field(default_factory=list)
    progress_frames: int = 0
    final: bool = False
    final_at: int = 0
    result: Any = None
    closed: bool = False


async def _peer_follow(ws: ClientConnection, deadline: float, since: int = 0) -> PeerSeen:
    """Read peer frames until the complete one (or ``deadline``); progress values of
    ``since`` or more are call times in µs."""
    seen = PeerSeen()
    try:
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            arrival, frame = got
            if frame.get("complete"):
                seen.final, seen.final_at = bool(frame.get("success")), arrival
                seen.result = frame.get("result")
                break
            if frame.get("state") == "PROGRESS":
                seen.progress_frames += 1
                current = frame["progress"]["current"]
                if since and current >= since:
                    seen.latencies.append(ms(arrival - current))
    except ConnectionClosed:
        seen.closed = True
    return seen


def _peer_task(name: str) -> Any:
    from bench import peer_tasks

    return getattr(peer_tasks, name)


def _peer_result(task_id: str, timeout: float) -> dict[str, Any]:
    from celery.result import AsyncResult

    result: dict[str, Any] = AsyncResult(task_id).get(timeout=timeout)
    return result


# -- push latency ---------------------------------------------------------------------


async def _peer_ticker(stack: Stack, seconds: float) -> tuple[list[float], float]:
    """Latencies (ms) of the peer's pushed values, and its mean call time (ms)."""
    task_id = str(uuid_lib.uuid4())
    since = now_us()
    ws = await _peer_open(stack, task_id)
    try:
        _peer_task("peer_ticker").apply_async(
            kwargs={"rate": RATE, "duration": seconds, "lead": 0.2}, task_id=task_id
        )
        seen = await _peer_follow(ws, time.monotonic() + seconds + 30, since)
    finally:
        await ws.close()
    result = await asyncio.to_thread(_peer_result, task_id, 30)
    return seen.latencies, float(result["call_ms"])


# -- burst ------------------------------------------------------------------------------


async def _peer_burst(stack: Stack, count: int, wait: float) -> Sample:
    task_id = str(uuid_lib.uuid4())
    ws = await _peer_open(stack, task_id)
    try:
        _peer_task("peer_burst").apply_async(kwargs={"count": count, "lead": 0.3}, task_id=task_id)
        seen = await _peer_follow(ws, time.monotonic() + wait)
    finally:
        await ws.close()
    result = await asyncio.to_thread(_peer_result, task_id, 60)
    return {
        "peer_burst_final": float(seen.final),
        "peer_burst_final_ms": ms(seen.final_at - int(result["began"])) if seen.final else math.nan,
        "peer_burst_frames": float(seen.progress_frames),
        "peer_call_ms": float(result["call_ms"]),
    }


# -- late subscriber --------------------------------------------------------------------


async def _ours_late(stack: Stack) -> Sample:
    from task_api.models import TaskRecord

    uuid = await start_task(stack, "bench-steps", {"steps": 5, "delay": 0})

    def finished() -> bool:
        return TaskRecord.objects.filter(uuid=uuid, status="succeeded").exists()

    await asyncio.to_thread(wait_until, finished, 30, "bench-steps to finish")
    asked = now_us()
    async with open_socket(
        f"{stack.ws_url}/ws/tasks/", cookie=stack.cookie, origin=stack.origin
    ) as ws:
        await subscribe(ws, uuid)
        got = await receive(ws, 5)
    final = got is not None and is_terminal(got[1]) and got[1]["task"]["progress"] == 5
    return {
        "late": float(final),
        "late_ms": ms(got[0] - asked) if got and final else math.nan,
    }


async def _peer_late(stack: Stack) -> Sample:
    task_id = str(uuid_lib.uuid4())
    _peer_task("peer_burst").apply_async(kwargs={"count": 5}, task_id=task_id)
    await asyncio.to_thread(_peer_result, task_id, 30)
    asked = now_us()
    ws = await _peer_open(stack, task_id)
    try:
        seen = await _peer_follow(ws, time.monotonic() + 5)
    finally:
        await ws.close()
    return {
        "peer_late": float(seen.final),
        "peer_late_ms": ms(seen.final_at - asked) if seen.final else math.nan,
    }


# -- fan-out ----------------------------------------------------------------------------


async def _open_many(stack: Stack, n: int, opener: Any) -> list[ClientConnection]:
    gate = asyncio.Semaphore(CONNECTING)

    async def one() -> ClientConnection:
        async with gate:
            ws: ClientConnection = await opener()
            return ws

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    return [ws for ws in results if isinstance(ws, ClientConnection)]


async def _close(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _fan_summary(prefix: str, n: int, go: int, finals: list[int], latencies: list[float]) -> Sample:
    return {
        f"{prefix}fan_got": float(len(finals)),
        f"{prefix}fan_missed": float(n - len(finals)),
        f"{prefix}fan_last_ms": ms(max(finals) - go) if finals else math.nan,
        f"{prefix}fan_p50": percentile(latencies, 50),
        f"{prefix}fan_p99": percentile(latencies, 99),
    }


async def _ours_fanout(stack: Stack, n: int) -> Sample:
    from task_api.engine.dispatch import get_backend
    from task_api.models import TaskRecord
    from task_api.registry import get_task

    inputs = {"rate": FAN_RATE, "duration": FAN_SECONDS}
    record = await asyncio.to_thread(
        lambda: TaskRecord.objects.create(name="bench-ticker", inputs=inputs, owner=stack.user)
    )
    uuid = str(record.uuid)
    url = f"{stack.ws_url}/ws/tasks/"
    sockets = await _open_many(
        stack, n, lambda: open_socket(url, cookie=stack.cookie, origin=stack.origin)
    )
    deadline = time.monotonic() + FAN_SECONDS + 60

    async def watch(ws: ClientConnection) -> tuple[int, list[float]]:
        latencies: list[float] = []
        try:
            await subscribe(ws, uuid)
            while (got := await receive(ws, deadline - time.monotonic())) is not None:
                arrival, frame = got
                if is_terminal(frame):
                    return (arrival if frame["task"]["status"] == "succeeded" else 0), latencies
                value = progress_of(frame)
                if frame["type"] == "update" and value is not None:
                    latencies.append(ms(arrival - value))
        except ConnectionClosed:
            pass
        return 0, latencies

    try:
        watching = [asyncio.create_task(watch(ws)) for ws in sockets]
        await asyncio.sleep(1.0)  # every snapshot in
        go = now_us()
        await asyncio.to_thread(get_backend().dispatch, record, get_task("bench-ticker"))
        seen = await asyncio.gather(*watching)
    finally:
        await _close(sockets)
    finals = [at for at, _ in seen if at]
    return _fan_summary("", n, go, finals, [v for _, values in seen for v in values])


async def _peer_fanout(stack: Stack, n: int, wait: float) -> Sample:
    task_id = str(uuid_lib.uuid4())
    since = now_us()
    sockets = await _open_many(stack, n, lambda: _peer_open(stack, task_id))
    deadline = time.monotonic() + FAN_SECONDS + wait
    try:
        watching = [asyncio.create_task(_peer_follow(ws, deadline, since)) for ws in sockets]
        await asyncio.sleep(1.0)  # the PENDING answers to every client's check
        go = now_us()
        _peer_task("peer_ticker").apply_async(
            kwargs={"rate": FAN_RATE, "duration": FAN_SECONDS}, task_id=task_id
        )
        seen = await asyncio.gather(*watching)
    finally:
        await _close(sockets)
    finals = [one.final_at for one in seen if one.final]
    return _fan_summary("peer_", n, go, finals, [v for one in seen for v in one.latencies])


# -- a second user ----------------------------------------------------------------------


def _second_user_cookie() -> str:
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username=SECOND_USER[0])
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def _ours_second_user(stack: Stack, cookie: str) -> Sample:
    uuid = await start_task(stack, "bench-steps", {"steps": 20, "delay": 0.02})
    frames, refused = 0, False
    async with open_socket(f"{stack.ws_url}/ws/tasks/", cookie=cookie, origin=stack.origin) as ws:
        await subscribe(ws, uuid)
        deadline = time.monotonic() + 1.5
        while (got := await receive(ws, deadline - time.monotonic())) is not None:
            frame = got[1]
            if frame.get("type") == "error" and frame.get("uuid") == uuid:
                refused = True
            elif frame.get("type") in {"snapshot", "update"}:
                frames += 1
    return {"other_frames": float(frames), "other_refused": float(refused)}


async def _peer_second_user(stack: Stack) -> Sample:
    """The first user's task watched by a client without a session."""
    task_id = str(uuid_lib.uuid4())
    ws = await _peer_open(stack, task_id, cookie="")
    try:
        _peer_task("peer_burst").apply_async(kwargs={"count": 20, "lead": 0.2}, task_id=task_id)
        seen = await _peer_follow(ws, time.monotonic() + 10)
    finally:
        await ws.close()
    return {
        "peer_other_frames": float(seen.progress_frames + seen.final),
        "peer_other_result": float(seen.result is not None),
    }


# -- the run ----------------------------------------------------------------------------


def _run(stack: Stack, mode: Mode) -> list[Sample]:
    seconds = mode.pick(3.0, 0.5)
    count = mode.pick(5_000, 200)
    fans = mode.pick(int(os.environ.get("BENCH_PEER_FANOUT_CLIENTS", "200")), 10)
    wait = mode.pick(120.0, 10.0)
    cookie = _second_user_cookie()
    samples: list[Sample] = [{} for _ in range(mode.repeats)]
    stack.use_interval(0.1)
    for sample in samples:
        latencies, call_ms = asyncio.run(_peer_ticker(stack, seconds))
        sample.update(
            {
                "peer_p50": percentile(latencies, 50),
                "peer_p99": percentile(latencies, 99),
                "peer_n": float(len(latencies)),
                "peer_tick_call_ms": call_ms,
            }
        )
        ours = asyncio.run(watch_ticker(stack, seconds))
        sample.update({"p50": percentile(ours, 50), "p99": percentile(ours, 99)})
        sample.update({"n": float(len(ours))})
        sample.update(asyncio.run(_peer_burst(stack, count, wait)))
        mine = asyncio.run(watch_burst(stack, count, 0))
        sample["burst_final"] = 1 - mine["lost_terminal"]
        sample["burst_final_ms"] = mine["final_ms"]
        sample.update(asyncio.run(_ours_late(stack)))
        sample.update(asyncio.run(_peer_late(stack)))
        sample.update(asyncio.run(_ours_fanout(stack, fans)))
        sample.update(asyncio.run(_peer_fanout(stack, fans, wait)))
        sample.update(asyncio.run(_ours_second_user(stack, cookie)))
        sample.update(asyncio.run(_peer_second_user(stack)))
        spun, _, _ = _spin(stack, count, call=True)
        sample["call_ms"] = spun / count * 1000
    stack.use_interval(0.0)
    for sample in samples:
        ours = asyncio.run(watch_ticker(stack, seconds))
        sample.update({"p50_0": percentile(ours, 50), "p99_0": percentile(ours, 99)})
        sample["n0"] = float(len(ours))
    stack.use_interval(0.1)
    return samples


PEER = "celery-progress"


def _vs(label: str, key: str, unit: str, **kwargs: Any) -> Metric:
    return Metric(
        label=label,
        key=key,
        unit=unit,
        baseline_key=f"peer_{key}",
        baseline_label=PEER,
        **kwargs,
    )


def _check(label: str, key: str, op: str, value: float) -> Metric:
    return Metric(
        label=label,
        key=key,
        unit="",
        target=Target(op=op, value=value),
        aggregate="min" if op == ">=" else "max",
        check=True,
    )


METRICS = (
    _vs("push p50, default interval 0.1 s (peer: every call)", "p50", "ms"),
    _vs("push p99, default interval 0.1 s (peer: every call)", "p99", "ms"),
    Metric(
        label="push p50, interval 0 (peer: every call)",
        key="p50_0",
        unit="ms",
        baseline_key="peer_p50",
        baseline_label=PEER,
    ),
    Metric(
        label="push p99, interval 0 (peer: every call)",
        key="p99_0",
        unit="ms",
        baseline_key="peer_p99",
        baseline_label=PEER,
    ),
    _vs("values pushed per ticker run, interval 0.1 s (peer: every call)", "n", ""),
    Metric(
        label="values pushed per ticker run, interval 0 (peer: every call)",
        key="n0",
        unit="",
        baseline_key="peer_n",
        baseline_label=PEER,
    ),
    _vs("burst: runs whose client got the final state", "burst_final", "", aggregate="min"),
    _vs("burst: start to final state at the client", "burst_final_ms", "ms"),
    _vs("late subscriber: runs that got the final state", "late", "", aggregate="min"),
    _vs("late subscriber: connect to final state", "late_ms", "ms"),
    _vs("fan-out: clients with the final state", "fan_got", "", aggregate="min"),
    _vs("fan-out: dispatch to the last client's final state", "fan_last_ms", "ms"),
    _vs("fan-out: push p50", "fan_p50", "ms"),
    _vs("fan-out: push p99", "fan_p99", "ms"),
    _vs("second user: frames of the first user's task", "other_frames", "", aggregate="max"),
    _vs("progress call, blocking time in the task (burst)", "call_ms", "ms"),
    Metric(label="peer progress call at 200 calls/s (ticker)", key="peer_tick_call_ms", unit="ms"),
    # The library's guarantees, and a working peer setup: a broken one must not pass quietly.
    _check("library: burst runs with the final state", "burst_final", ">=", 1),
    _check("library: late subscriber got the final state", "late", ">=", 1),
    _check("library: fan-out clients without the final state", "fan_missed", "==", 0),
    _check("library: second user refused", "other_refused", ">=", 1),
    _check("library: second user's frames of the task", "other_frames", "==", 0),
    _check("peer: progress values received by its client", "peer_n", ">=", 1),
    _check("peer: frames a client without a session got", "peer_other_frames", ">=", 1),
)

SCENARIO = Scenario(name="peer", title="10. The peer: celery-progress", metrics=METRICS, run=_run)
