"""The checks of :mod:`task_api.health`, each bounded by ``TASK_API_HEALTH_TIMEOUT``.

- database: ``SELECT 1`` on a new connection to each database of the app (``default`` and
  the one of the task tables), in a thread of its own;
- broker: the backend connects to it once (Celery; ``unused`` for the in-process backend
  and Celery's eager mode);
- channel layer: a ``group_send`` to a group nobody is in, answered by its server;
- workers: how many Celery workers that consume the tasks' queue answer an inspection
  within the timeout (the in-process backend: its threads). None is a failure.

The database and the backend are checked in threads, which concurrent checks of the
process share: a probe every second still costs one check at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from channels.layers import get_channel_layer
from django.db import DEFAULT_DB_ALIAS, connections

from task_api.conf import task_api_settings
from task_api.engine.dispatch import get_backend
from task_api.store import database

T = TypeVar("T")

logger = logging.getLogger("task_api.health")

OK = "ok"
UNUSED = "unused"  # nothing to check: no broker, no channel layer
FAILED = "failed"  # what anonymous callers see of an error
GROUP = "task_api.health"


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of each check: ``ok``, ``unused`` or what went wrong; and the workers."""

    database: str
    broker: str
    channel_layer: str
    workers: int | None

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed."""
        failed = [
            name
            for name in ("database", "broker", "channel_layer")
            if getattr(self, name) not in (OK, UNUSED)
        ]
        return [*failed, "workers"] if self.workers == 0 else failed

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_json(self, *, details: bool = True) -> dict[str, Any]:
        """The report as JSON; without ``details``, an error is only ``"failed"``."""
        return {
            name: value if details or value in (OK, UNUSED) or name == "workers" else FAILED
            for name, value in dataclasses.asdict(self).items()
        }


async def check(timeout: float | None = None) -> Report:
    """Run the checks at once, each for ``timeout`` seconds at most (default:
    ``TASK_API_HEALTH_TIMEOUT``); the workers are asked once the broker answered."""
    limit = task_api_settings.health_timeout if timeout is None else timeout
    db, layer, (broker, workers) = await asyncio.gather(
        _bounded(_shared("database", check_database), limit),
        _bounded(check_channel_layer(), limit),
        _check_backend(limit),
    )
    return Report(database=db, broker=broker, channel_layer=layer, workers=workers)


def check_database() -> str:
    """``SELECT 1`` on each database of the app, over a new connection closed after it."""
    for alias in sorted({DEFAULT_DB_ALIAS, database.alias()}):
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            return f"{alias}: {describe(exc)}"
        finally:
            connection.close()
    return OK


async def check_channel_layer() -> str:
    """A ``group_send`` that the layer's server must take (nobody is in the group)."""
    layer = get_channel_layer(task_api_settings.channel_layer_alias)
    if layer is None:
        return UNUSED
    await layer.group_send(GROUP, {"type": "task_api.health"})
    return OK


def check_broker(timeout: float) -> str:
    """Whether the backend reaches its broker: ``ok``, or ``unused`` without one."""
    return OK if get_backend().check_broker(timeout) else UNUSED


def count_workers(timeout: float) -> int | None:
    """How many workers answer (``None``: the backend cannot tell)."""
    return get_backend().count_workers(timeout)


async def _check_backend(limit: float) -> tuple[str, int | None]:
    broker = await _bounded(_shared("broker", check_broker, limit), limit)
    if broker not in (OK, UNUSED):
        return broker, 0
    # Replies are collected for the whole timeout: a little longer to hand them over.
    workers = await _bounded(_shared("workers", count_workers, limit), limit + 0.5)
    if isinstance(workers, str):
        logger.warning("Could not count the workers: %s", workers)
        return broker, 0
    return broker, workers


def describe(exc: BaseException) -> str:
    """An error as one line."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _bounded(work: Any, timeout: float) -> Any:
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except Exception as exc:
        return describe(exc)


_running: dict[str, concurrent.futures.Future[Any]] = {}
_lock = threading.Lock()


def _shared(name: str, work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run ``work`` in a daemon thread, or wait for the run of ``name`` that is going on."""
    with _lock:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = concurrent.futures.Future()
            future.set_running_or_notify_cancel()  # a waiter that gives up cancels nothing
            threading.Thread(
                target=_run, args=(future, work, *args), name=f"task_api-health-{name}", daemon=True
            ).start()
    return asyncio.wrap_future(future)


def _run(future: concurrent.futures.Future[Any], work: Callable[..., Any], *args: Any) -> None:
    try:
        future.set_result(work(*args))
    except BaseException as exc:
        future.set_exception(exc)
