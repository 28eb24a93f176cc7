"""One re-check per process of every task watched over WebSockets.

Each connection remembers the last ``seq`` it forwarded per task. Every
``TASK_API_RESYNC_INTERVAL`` seconds a single query reads the stored ``seq``
of all watched tasks. For each task some connection is behind on, that is
short of the ``seq`` stored one check earlier (an event was dropped, or the
layer lost its group after a Redis restart), the process
rejoins the task's group once, and each such connection is told through its
inbox, so that the snapshot it sends takes its turn with the events and can
never be older than a frame it already sent. Idle connections cost nothing
but their share of that one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Protocol

from channels.db import database_sync_to_async

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.consumers.hub import get_hub
from task_api.models import TaskRecord

logger = logging.getLogger("task_api.consumers")


class Watcher(Protocol):
    """What the re-check needs of a connection."""

    watched: dict[str, int]

    def behind(self, uuid: str, stored: int) -> None:
        """The database holds ``stored`` for ``uuid``: catch up in turn."""


def _stored_seqs(uuids: list[str]) -> dict[str, int]:
    rows = TaskRecord.objects.filter(uuid__in=uuids).values_list("uuid", "seq")
    return {str(uuid): seq for uuid, seq in rows}


class _Resync:
    """The re-check of one event loop's connections."""

    def __init__(self) -> None:
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None
        self.stored: dict[str, int] = {}  # what the previous check read

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.watchers:
            await asyncio.sleep(task_api_settings.resync_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("Could not re-check the watched tasks")

    async def check(self) -> None:
        """Compare every watched task with the database once."""
        hub = get_hub()
        if hub is not None:
            await hub.sweep()
        watchers = list(self.watchers)
        uuids = sorted({uuid for watcher in watchers for uuid in watcher.watched})
        if not uuids:
            return
        stored = await database_sync_to_async(_stored_seqs)(uuids)
        # Behind means short of what was stored one check ago: events stored since
        # may still be on their way, and a snapshot would only overtake them.
        previous, self.stored = self.stored, stored
        behind = [
            (watcher, uuid, stored.get(uuid, -1))
            for watcher in watchers
            for uuid, seq in list(watcher.watched.items())
            if uuid not in stored or seq < previous.get(uuid, -1)
        ]
        if hub is not None:
            for uuid in sorted({uuid for _, uuid, _ in behind}):
                with contextlib.suppress(Exception):
                    await hub.rejoin(protocol.task_group(uuid))
        for watcher, uuid, seq in behind:
            watcher.behind(uuid, seq)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Resync] = (
    weakref.WeakKeyDictionary()
)


def watch(watcher: Watcher) -> None:
    """Include a connection in its event loop's re-check."""
    loop = asyncio.get_running_loop()
    resync = _by_loop.get(loop)
    if resync is None:
        resync = _by_loop[loop] = _Resync()
    resync.add(watcher)
