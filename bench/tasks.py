"""Bench-only tasks: task classes for the library and raw Celery tasks for the baselines."""

from __future__ import annotations

import functools
import time

import redis
from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer
from django.conf import settings

from bench.clock import now_us
from task_api.params import BooleanParameter, IntParameter, NumberParameter
from task_api.tasks import Task
from tests.project.tasks import Burst


class Noop(Task):
    """Does nothing."""

    name = "bench-noop"

    def run(self) -> None:
        return None


class Ticker(Task):
    """Sets the progress ``rate`` times a second; each value is the time of its call in µs."""

    name = "bench-ticker"
    inputs = {
        "rate": NumberParameter(minimum=1),
        "duration": NumberParameter(minimum=0),
        "lead": NumberParameter(required=False),
    }
    outputs = {"calls": IntParameter()}

    def run(self, rate: float, duration: float, lead: float = 0.0) -> int:
        time.sleep(lead)
        period, calls = 1.0 / rate, int(rate * duration)
        start = time.monotonic()
        for i in range(calls):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.set_progress(now_us())
        return calls


class StreamWriter(Task):
    """Writes ``rate`` chunks a second to the "answer" stream for ``duration`` seconds;
    chunk ``i`` is ``"<i>:<time of the write in µs>"``."""

    name = "bench-stream"
    inputs = {"rate": NumberParameter(minimum=1), "duration": NumberParameter(minimum=0)}
    outputs = {"chunks": IntParameter()}

    def run(self, rate: float, duration: float) -> int:
        period, count = 1.0 / rate, int(rate * duration)
        start = time.monotonic()
        for i in range(count):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.write(f"{i}:{now_us()}", stream="answer")
        return count


class Spin(Task):
    """Times a tight loop of ``count`` iterations, with or without ``set_progress``."""

    name = "bench-spin"
    inputs = {"count": IntParameter(minimum=1), "call": BooleanParameter()}
    outputs = {"seconds": NumberParameter()}

    def run(self, count: int, call: bool) -> float:
        start = time.perf_counter()
        if call:
            for i in range(1, count + 1):
                self.set_progress(i)
        else:
            for _i in range(1, count + 1):
                pass
        return time.perf_counter() - start


class LateBurst(Burst):
    """``burst`` after ``lead`` seconds, so that a watcher is subscribed when it starts;
    returns when (µs) the burst began."""

    name = "bench-burst"
    inputs = {**Burst.inputs, "lead": NumberParameter(required=False)}
    outputs = {"count": IntParameter(), "began": IntParameter()}

    def run(self, count: int, messages: int = 0, lead: float = 0.0) -> dict[str, int]:  # type: ignore[override]
        time.sleep(lead)
        began = now_us()
        return {"count": super().run(count, messages), "began": began}


class Steps(Task):
    """Sets a target, then counts to it with a pause after each step."""

    name = "bench-steps"
    inputs = {"steps": IntParameter(minimum=1), "delay": NumberParameter(minimum=0)}

    def run(self, steps: int, delay: float) -> None:
        self.set_target(steps)
        for i in range(1, steps + 1):
            self.set_progress(i)
            time.sleep(delay)


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.noop", ignore_result=True)
def raw_noop(counter: str) -> None:
    """Baseline no-op Celery task; counts itself done in Redis."""
    _redis().incr(counter)


@shared_task(name="bench.ping", ignore_result=True)
def raw_ping(group: str, sent_us: int) -> None:
    """Baseline: one ``group_send`` from a worker, as a task without the library would."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "bench.event", "t": sent_us})


@shared_task(name="bench.hand_run", ignore_result=True)
def hand_run(uuid: str) -> None:
    """The Celery task of the hand-written start view (the bench never runs it)."""


from bench import peer_tasks  # noqa: E402, F401  (registers the peer's tasks with the worker)
