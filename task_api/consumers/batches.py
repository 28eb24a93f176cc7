"""Batch subscriptions of the WebSocket consumer (protocol in ``docs/protocol.md``).

``{"type": "subscribe", "batch": "<uuid>"}`` joins the batch's group, then
sends a ``batch_snapshot`` (the whole batch JSON); aggregate ``batch_update``
frames follow, each a complete state, forwarded only when its ``seq`` is
higher than the last one sent, and at most one per ``TASK_API_BATCH_INTERVAL``
(updates from several worker processes are coalesced again here: the latest
is held and sent at the end of the interval). The terminal state is sent at
once, and ends the subscription. Every ``TASK_API_RESYNC_INTERVAL`` seconds one query per event loop
reads the ``seq`` of every watched batch, and a connection that is behind
(a frame was lost) gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid as uuid_lib
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db.models import Count, Sum

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.engine.policy import Actor, get_policy
from task_api.models import TaskBatch, TaskRecord
from task_api.store.aggregate import batch_json

logger = logging.getLogger("task_api.consumers")

UNFINISHED = ("pending", "running")
# Sends started by timers, kept referenced until they finish.
_pending: set[asyncio.Task[None]] = set()


def _load_visible(uuid: str, actor: Actor) -> dict[str, Any] | None:
    batch = TaskBatch.objects.filter(uuid=uuid).first()
    if batch is None or not get_policy().can_see(actor, batch):
        return None
    return batch_json(batch)


def _stored_seqs(uuids: list[str]) -> dict[str, int]:
    rows = (
        TaskRecord.objects.filter(batch__uuid__in=uuids)
        .order_by()
        .values("batch__uuid")
        .annotate(seq=Sum("seq"), n=Count("id"))
    )
    return {str(row["batch__uuid"]): row["seq"] + row["n"] for row in rows}


class BatchSubscriptions(AsyncWebsocketConsumer):  # type: ignore[misc]
    """The batch half of :class:`~.tasks.TaskConsumer`."""

    @property
    def batches(self) -> dict[str, int]:
        """Watched batch uuid -> ``seq`` of the last frame sent."""
        seqs: dict[str, int] = self.__dict__.setdefault("_batch_seqs", {})
        return seqs

    @property
    def _held(self) -> dict[str, tuple[dict[str, Any], asyncio.TimerHandle]]:
        """Batch uuid -> the newest update not sent yet, and the timer that sends it."""
        held: dict[str, tuple[dict[str, Any], asyncio.TimerHandle]] = self.__dict__.setdefault(
            "_batch_held", {}
        )
        return held

    @property
    def _sent_at(self) -> dict[str, float]:
        """Batch uuid -> loop time of the last update sent."""
        sent: dict[str, float] = self.__dict__.setdefault("_batch_sent_at", {})
        return sent

    async def batch_receive(self, kind: str, frame: dict[str, Any], watching: int) -> None:
        """A ``subscribe`` or ``unsubscribe`` frame naming a ``batch``."""
        uuid = _parse_uuid(frame.get("batch"))
        if uuid is None:
            await self._batch_error(None, "invalid", f"{frame.get('batch')!r} is not a batch uuid.")
        elif kind == "unsubscribe":
            await self._batch_leave(uuid)
        elif uuid not in self.batches and watching >= task_api_settings.max_subscriptions:
            limit = task_api_settings.max_subscriptions
            await self._batch_error(
                uuid, "too_many", f"At most {limit} subscriptions per connection."
            )
        else:
            # Join first, then read: no update can fall between the snapshot and the stream.
            await self._batch_join(uuid)
            self.batches.setdefault(uuid, -1)
            _watch(self)
            await self._batch_snapshot(uuid, force=True)

    async def batch_event(self, frame: dict[str, Any]) -> None:
        """A ``batch_update`` published for a watched batch."""
        await self._batch_forward(frame)

    async def batch_disconnect(self) -> None:
        """Leave every batch group."""
        for uuid in list(self.batches):
            await self._batch_leave(uuid)

    async def batch_catch_up(self, uuid: str) -> None:
        """Rejoin the batch's group and send a fresh snapshot."""
        await self._batch_join(uuid)
        await self._batch_snapshot(uuid)

    async def _batch_snapshot(self, uuid: str, *, force: bool = False) -> None:
        actor = Actor.of(self.scope.get("user"), self.scope.get("session"))
        data = await database_sync_to_async(_load_visible)(uuid, actor)
        if uuid not in self.batches:
            return
        if data is None:
            await self._batch_leave(uuid)
            await self._batch_error(uuid, "not_found", f"No batch {uuid!r}.")
            return
        await self._batch_forward(protocol.batch_snapshot_frame(data), force=force)

    async def _batch_forward(self, frame: dict[str, Any], *, force: bool = False) -> None:
        uuid = frame["batch"]
        last = self.batches.get(uuid)
        if last is None or (frame["seq"] <= last and not force):
            return
        state = frame.get("data") or frame.get("set") or {}
        final = bool(state.get("total")) and state.get("status") not in UNFINISHED
        loop = asyncio.get_running_loop()
        if frame["type"] == "batch_update" and not final:
            wait = (
                self._sent_at.get(uuid, -math.inf) + task_api_settings.batch_interval - loop.time()
            )
            if wait > 0:
                _, timer = self._held.get(uuid, (None, None))
                if timer is None:
                    timer = loop.call_later(wait, self._release, uuid)
                self._held[uuid] = (frame, timer)
                return
            self._sent_at[uuid] = loop.time()
        self._drop_held(uuid)
        self.batches[uuid] = max(frame["seq"], last)
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))
        if final:
            await self._batch_leave(uuid)

    def _release(self, uuid: str) -> None:
        """Send the update held for ``uuid`` (a timer callback)."""
        frame, _ = self._held.pop(uuid, (None, None))
        if frame is not None:
            self._sent_at.pop(uuid, None)
            task = asyncio.get_running_loop().create_task(self._batch_forward(frame))
            _pending.add(task)
            task.add_done_callback(_pending.discard)

    def _drop_held(self, uuid: str) -> None:
        _, timer = self._held.pop(uuid, (None, None))
        if timer is not None:
            timer.cancel()

    async def _batch_join(self, uuid: str) -> None:
        try:
            await self.channel_layer.group_add(protocol.batch_group(uuid), self.channel_name)
        except Exception as exc:
            logger.warning("Could not join the group of batch %s: %r", uuid, exc)

    async def _batch_leave(self, uuid: str) -> None:
        self._drop_held(uuid)
        self._sent_at.pop(uuid, None)
        if self.batches.pop(uuid, None) is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(
                    protocol.batch_group(uuid), self.channel_name
                )

    async def _batch_error(self, uuid: str | None, code: str, detail: str) -> None:
        frame = {"type": "error", "batch": uuid, "code": code, "detail": detail}
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))


class _Resync:
    """The periodic re-check of one event loop's batch subscriptions."""

    def __init__(self) -> None:
        self.watchers: weakref.WeakSet[BatchSubscriptions] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None

    def add(self, watcher: BatchSubscriptions) -> None:
        self.watchers.add(watcher)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.watchers:
            await asyncio.sleep(task_api_settings.resync_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("Could not re-check the watched batches")

    async def check(self) -> None:
        watchers = list(self.watchers)
        uuids = sorted({uuid for watcher in watchers for uuid in watcher.batches})
        if not uuids:
            return
        stored = await database_sync_to_async(_stored_seqs)(uuids)
        for watcher in watchers:
            for uuid, seq in list(watcher.batches.items()):
                if stored.get(uuid, -1) != seq:
                    with contextlib.suppress(Exception):
                        await watcher.batch_catch_up(uuid)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Resync] = (
    weakref.WeakKeyDictionary()
)


def _watch(watcher: BatchSubscriptions) -> None:
    loop = asyncio.get_running_loop()
    resync = _by_loop.get(loop)
    if resync is None:
        resync = _by_loop[loop] = _Resync()
    resync.add(watcher)


def _parse_uuid(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return None
