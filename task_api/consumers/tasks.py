"""The WebSocket consumer: watch tasks by uuid (protocol in ``docs/protocol.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid as uuid_lib
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer

from .. import access, events, recovery
from ..conf import task_api_settings
from ..models import TERMINAL_STATUSES, TaskRecord
from ..serializers import task_json
from . import resync
from .batches import BatchSubscriptions


def _load_visible(uuid: str, user: Any, session_key: str | None) -> dict[str, Any] | None:
    record = TaskRecord.objects.select_related(None).filter(uuid=uuid).first()
    if record is None or not access.can_access(record, user, session_key):
        return None
    return task_json(recovery.fail_if_stale(record))


logger = logging.getLogger("task_api.consumers")


class TaskConsumer(BatchSubscriptions):
    """Forwards the events of the tasks a connection subscribed to, in order, without gaps."""

    groups: list[str] = []

    async def connect(self) -> None:
        layer = self.channel_layer
        if isinstance(layer, InMemoryChannelLayer):
            events.publisher.bind_server_loop(asyncio.get_running_loop())
        self.watched: dict[str, int] = {}
        await self.accept()
        resync.watch(self)

    async def disconnect(self, code: int) -> None:
        for uuid in list(getattr(self, "watched", {})):
            await self._leave(uuid)
        await self.batch_disconnect()

    # -- client frames --------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error(None, "invalid", "Frames must be JSON text.")
            return
        if len(text_data.encode()) > task_api_settings.max_frame_bytes:
            await self._error(
                None,
                "too_large",
                f"Frames may be at most {task_api_settings.max_frame_bytes} bytes.",
            )
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error(None, "invalid", "The frame is not valid JSON.")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "ping":
            await self._send({"type": "pong"})
            return
        if kind not in ("subscribe", "unsubscribe"):
            await self._error(
                None, "invalid", f"Unknown frame type {kind!r}; use subscribe, unsubscribe or ping."
            )
            return
        if "batch" in frame:
            await self.batch_receive(kind, frame, len(self.watched) + len(self.batches))
            return
        uuid = _parse_uuid(frame.get("uuid"))
        if uuid is None:
            await self._error(None, "invalid", f"{frame.get('uuid')!r} is not a task uuid.")
        elif kind == "subscribe":
            await self._subscribe(uuid)
        else:
            await self._leave(uuid)

    async def _subscribe(self, uuid: str) -> None:
        if uuid not in self.watched and len(self.watched) >= task_api_settings.max_subscriptions:
            limit = task_api_settings.max_subscriptions
            await self._error(uuid, "too_many", f"At most {limit} tasks per connection.")
            return
        # Join first, then read: no event can fall between the snapshot and the stream.
        await self._join(uuid)
        self.watched.setdefault(uuid, -1)
        await self._send_snapshot(uuid)

    async def _send_snapshot(self, uuid: str) -> None:
        session = self.scope.get("session")
        task = await database_sync_to_async(_load_visible)(
            uuid, self.scope.get("user"), session.session_key if session else None
        )
        if uuid not in self.watched:
            return
        if task is None:
            await self._leave(uuid)
            await self._error(uuid, "not_found", f"No task {uuid!r}.")
            return
        await self._forward(events.snapshot_frame(task), force=True)

    async def _leave(self, uuid: str) -> None:
        if self.watched.pop(uuid, None) is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(events.group_name(uuid), self.channel_name)

    # -- events from the channel layer ------------------------------------------------

    async def task_event(self, message: dict[str, Any]) -> None:
        """An event published for a watched task."""
        frame = message["frame"]
        if "batch" in frame:
            await self.batch_event(frame)
            return
        last = self.watched.get(frame["uuid"])
        if last is None or frame["seq"] <= last:
            return
        if frame["type"] == "update" and last >= 0 and frame["seq"] > last + 1:
            await self._send_snapshot(frame["uuid"])  # events were lost: resync
            return
        await self._forward(frame)

    async def _forward(self, frame: dict[str, Any], *, force: bool = False) -> None:
        uuid = frame["uuid"]
        last = self.watched.get(uuid)
        if last is None or (frame["seq"] <= last and not force):
            return
        self.watched[uuid] = max(frame["seq"], last)
        await self._send(frame)
        if frame["type"] == "snapshot" and frame["task"]["status"] in TERMINAL_STATUSES:
            await self._leave(uuid)

    async def catch_up(self, uuid: str) -> None:
        """Rejoin the task's group and send a fresh snapshot (see :mod:`.resync`)."""
        await self._join(uuid)
        await self._send_snapshot(uuid)

    async def _join(self, uuid: str) -> None:
        """Join the task's group; if the layer is unreachable, the re-check catches up."""
        try:
            await self.channel_layer.group_add(events.group_name(uuid), self.channel_name)
        except Exception as exc:
            logger.warning("Could not join the group of task %s: %r", uuid, exc)

    # -- output -----------------------------------------------------------------------

    async def _error(self, uuid: str | None, code: str, detail: str) -> None:
        await self._send({"type": "error", "uuid": uuid, "code": code, "detail": detail})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))


def _parse_uuid(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return None
