"""Sample ``@task`` functions, run by ``task_api.backends.django_tasks``."""

from __future__ import annotations

import contextlib
import enum
import json
import time
from datetime import date, datetime
from typing import Any, Literal

from django.conf import settings

from task_api import progress
from task_api.compat import TaskContext, signals, task
from task_api.exceptions import Cancelled


class Shape(enum.Enum):
    CIRCLE = "circle"
    SQUARE = "square"


@task
def count(n: int, delay: float = 0.0, label: str = "step") -> int:
    """Count to ``n``, reporting each step."""
    progress.set_target(n)
    for i in range(n):
        if delay:
            time.sleep(delay)
        progress.inc()
        progress.message(f"{label} {i + 1}")
    return n


@task
def typed(
    size: int,
    ratio: float,
    name: str,
    flag: bool,
    tags: list[str],
    weights: dict[str, float],
    mode: Literal["fast", "slow"],
    shape: Shape,
    when: datetime,
    day: date,
    note: str | None = None,
    limit: int = 3,
) -> dict[str, Any]:
    """Echo every kind of typed input back."""
    return {
        "size": size,
        "ratio": ratio,
        "name": name,
        "flag": flag,
        "tags": tags,
        "weights": weights,
        "mode": mode,
        "shape": shape.value,
        "when": when.isoformat(),
        "day": day.isoformat(),
        "note": note,
        "limit": limit,
    }


@task
def explode(reason: str = "boom") -> None:
    """Always fails."""
    raise ValueError(reason)


@task
def stubborn(seconds: float = 30.0) -> str:
    """Reports progress in a loop that swallows every ``Exception``; only a cancel stops it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # must not swallow a cancel
            progress.inc()
        time.sleep(0.01)
    return "not cancelled"


@task
def careful(seconds: float = 30.0) -> str:
    """Catches ``Cancelled`` by name, as cleanup code does, and reports that it did."""
    try:
        stubborn.call(seconds)
    except Cancelled:
        progress.message("cleaned up")
        raise
    return "not cancelled"


@task(takes_context=True)
def with_context(context: TaskContext, word: str) -> dict[str, Any]:
    """Returns what its context says about the run."""
    return {"id": context.task_result.id, "attempt": context.attempt, "word": word}


@task
async def sleepy(seconds: float = 0.0) -> str:
    """An async function task."""
    import asyncio

    progress.set_target(1)
    await asyncio.sleep(seconds)
    progress.inc()
    return "awake"


def not_a_task() -> None:
    """Not decorated: cannot be started."""


#: Where processes started by the tests record Django's task signals (a Redis list).
SIGNALS_KEY = "tests:django-task-signals"


def _record_signal(name: str) -> Any:
    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        import redis

        entry = {"signal": name, "id": task_result.id, "status": str(task_result.status)}
        with redis.Redis.from_url(settings.REDIS_URL) as client:
            client.rpush(SIGNALS_KEY, json.dumps(entry))

    return receiver


if settings.REDIS_URL:  # a worker or daphne started by the tests
    for _name in ("task_enqueued", "task_started", "task_finished"):
        getattr(signals, _name).connect(
            _record_signal(_name), weak=False, dispatch_uid=f"tests.{_name}"
        )


@task
def spell(word: str) -> int:
    """Write ``word`` to the "letters" stream, one letter at a time."""
    for letter in word:
        progress.write(letter, stream="letters")
    return len(word)
