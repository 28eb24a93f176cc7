"""Snapshot reads shared by the connections of one process.

When many connections subscribe to one task at once, each needs the task as
stored after it joined. A read of a task that is requested while another read
of it is in flight waits for the next one, and every request that arrives
before that next read starts shares it: one query serves them all, and each
still sees the task as stored after its own join. Ownership is checked per
connection on the shared row.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from channels.db import database_sync_to_async

from task_api.engine import recovery
from task_api.models import TaskRecord
from task_api.store.task_json import task_json

Loaded = tuple[TaskRecord, dict[str, Any]] | None


def _load(uuid: str) -> Loaded:
    record = TaskRecord.objects.select_related(None).filter(uuid=uuid).first()
    if record is None:
        return None
    record = recovery.fail_if_stale(record)
    return record, task_json(record)


class _Reads:
    """The reads of one event loop, per task: the one running and the next one."""

    def __init__(self) -> None:
        self.running: dict[str, asyncio.Future[Loaded]] = {}
        self.next: dict[str, asyncio.Future[Loaded]] = {}

    async def read(self, uuid: str) -> Loaded:
        future = self.next.get(uuid)
        if future is None:
            future = self.next[uuid] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._start(uuid, future))
        return await asyncio.shield(future)

    async def _start(self, uuid: str, future: asyncio.Future[Loaded]) -> None:
        running = self.running.get(uuid)
        if running is not None:
            with contextlib.suppress(Exception):
                await running  # requests arriving meanwhile join ``future``
        if self.next.get(uuid) is future:
            del self.next[uuid]
        self.running[uuid] = future
        try:
            future.set_result(await database_sync_to_async(_load)(uuid))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            if self.running.get(uuid) is future:
                del self.running[uuid]


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Reads] = weakref.WeakKeyDictionary()


async def read(uuid: str) -> Loaded:
    """The task as stored now (read after this call), with its JSON; ``None`` if unknown."""
    loop = asyncio.get_running_loop()
    reads = _by_loop.get(loop)
    if reads is None:
        reads = _by_loop[loop] = _Reads()
    return await reads.read(uuid)
