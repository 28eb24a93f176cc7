"""The WebSocket consumer: watch tasks by uuid (protocol in ``docs/protocol.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid as uuid_lib
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.consumers import resync, snapshots, starts
from task_api.consumers.batches import BatchSubscriptions
from task_api.consumers.hub import Hub, get_hub
from task_api.consumers.inbox import Inbox
from task_api.consumers.sends import send_now, server_send
from task_api.engine import publisher
from task_api.engine.policy import Actor, get_policy
from task_api.models import TERMINAL_STATUSES

logger = logging.getLogger("task_api.consumers")

BATCH_KEY = "batch:"  # inbox keys of batch frames; task frames are keyed by task uuid


class TaskConsumer(BatchSubscriptions):
    """Forwards the events of the tasks a connection subscribed to, in order, without gaps.

    A connection has no channel of its own on the layer: the process's
    :class:`~.hub.Hub` is the group member and hands each event to the
    connection. An idle connection writes an in-order event at once, in the
    hub's pass over its listeners; while the connection is busy (a client frame
    or earlier events being handled), events wait in its
    :class:`~.inbox.Inbox`, which is drained in turn, so every frame it sends
    is decided in one place and in order. An idle connection holds no task of
    its own besides the server's.
    """

    groups: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(task_api_settings.channel_layer_alias)
        self.channel_name = ""
        self.base_send = server_send(send)
        self.inbox = Inbox()
        self.watched: dict[str, int] = {}
        self._busy = False  # a handler runs: events wait in the inbox
        self._draining: asyncio.Task[None] | None = None
        try:
            with contextlib.suppress(StopConsumer):
                while True:
                    await self._handle(await receive())
        finally:
            if self._draining is not None:
                self._draining.cancel()

    async def _handle(self, message: dict[str, Any]) -> None:
        """One client or server message, after the events queued before it."""
        while self._draining is not None:
            await asyncio.wait([self._draining])
        self._busy = True
        try:
            await self.dispatch(message)
            await self._drain()
        finally:
            self._busy = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, a hop
        # to the database thread per frame and event; this consumer reads the
        # database only through database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']!r}")
        await handler(message)

    async def connect(self) -> None:
        layer = self.channel_layer
        if isinstance(layer, InMemoryChannelLayer):
            publisher.current().bind_server_loop(asyncio.get_running_loop())
        await self.accept()
        resync.watch(self)

    async def disconnect(self, code: int) -> None:
        for uuid in list(self.watched):
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
        except (ValueError, RecursionError):
            await self._error(None, "invalid", "The frame is not valid JSON.")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "ping":
            await self._send({"type": "pong"})
            return
        if kind == "start":
            await starts.start(self, frame)
            return
        if kind not in ("subscribe", "unsubscribe"):
            await self._error(
                None,
                "invalid",
                f"Unknown frame type {kind!r}; use start, subscribe, unsubscribe or ping.",
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
        self.watched.setdefault(uuid, -1)
        await self._join(uuid)
        await self._send_snapshot(uuid)

    async def _send_snapshot(self, uuid: str) -> None:
        loaded = await snapshots.read(uuid)
        if uuid not in self.watched:
            return
        if loaded is None or not get_policy().can_see(self.actor(), loaded[0]):
            await self._leave(uuid)
            await self._error(uuid, "not_found", f"No task {uuid!r}.")
            return
        await self._forward(protocol.snapshot_frame(loaded[1]), force=True)

    def actor(self) -> Actor:
        """Who is asking, for the access policy."""
        return Actor.of(self.scope.get("user"), self.scope.get("session"))

    async def _leave(self, uuid: str) -> None:
        self._unwatch(uuid)

    def _unwatch(self, uuid: str) -> None:
        if self.watched.pop(uuid, None) is not None:
            hub = self._hub()
            if hub is not None:
                hub.leave(protocol.task_group(uuid), self)

    # -- events from the process's hub ------------------------------------------------

    def deliver(self, group: str, message: dict[str, Any]) -> None:
        """Take an event of a watched task or batch (called by the hub; never blocks)."""
        frame = message.get("frame")
        if not isinstance(frame, dict):
            return
        if "batch" in frame:
            if frame["batch"] in self.batches:
                self._queue(BATCH_KEY + frame["batch"], frame)
        elif frame.get("uuid") in self.watched and (
            self._busy or self.inbox or not self._forward_now(frame)
        ):
            self._queue(frame["uuid"], frame)

    def behind(self, uuid: str, stored: int) -> None:
        """The re-check read ``stored`` from the database: catch up in turn with the publisher."""
        self._queue(uuid, {"type": "resync", "uuid": uuid, "seq": stored})

    def _queue(self, key: str, frame: dict[str, Any]) -> None:
        """Keep ``frame`` for its turn; an idle connection starts draining its inbox."""
        self.inbox.put(key, frame)
        if not self._busy:
            self._start_draining(None)

    def _start_draining(self, sending: asyncio.Future[None] | None) -> None:
        self._busy = True
        self._draining = asyncio.get_running_loop().create_task(self._drain_later(sending))

    async def _drain_later(self, sending: asyncio.Future[None] | None) -> None:
        try:
            if sending is not None:
                await sending
            await self._drain()
        except Exception:
            logger.exception("Could not forward task events")
        finally:
            self._busy = False
            self._draining = None

    async def _drain(self) -> None:
        while self.inbox:
            await self.task_pending({"type": "task.pending"})

    def _forward_now(self, frame: dict[str, Any]) -> bool:
        """Send an event that follows what the connection sent, without waiting for a turn.

        Returns ``False`` when the event needs the consumer's turn (a snapshot to
        catch up, or no way to send at once)."""
        uuid, seq = frame["uuid"], frame["seq"]
        last = self.watched[uuid]
        if seq <= last:
            return True  # stale
        if frame["type"] == "update":
            base = frame.get("base", seq - 1)
            if last < 0 or base != last:
                return False
            if "base" in frame and base == seq - 1:
                frame = {k: v for k, v in frame.items() if k != "base"}
        elif frame["type"] != "snapshot":
            return False
        sending = send_now(self.base_send, {"type": "websocket.send", "text": _encode(frame)})
        if sending is None:
            return False
        self.watched[uuid] = seq
        if frame["type"] == "snapshot" and frame["task"]["status"] in TERMINAL_STATUSES:
            self._unwatch(uuid)
        if not sending.done():
            self._start_draining(sending)  # later events wait until this frame is written
        return True

    async def task_pending(self, message: dict[str, Any]) -> None:
        """The events and re-check requests that waited in the inbox, per task in order."""
        for uuid, frames in self.inbox.take().items():
            if uuid.startswith(BATCH_KEY):
                for frame in frames:
                    await self.batch_event(frame)  # skips what is stale or unwatched
                continue
            for frame in frames:
                if uuid not in self.watched:
                    break
                if frame["type"] == "resync":
                    # Frames sent since the re-check may have caught up already.
                    if frame["seq"] < 0 or self.watched[uuid] < frame["seq"]:
                        await self._send_snapshot(uuid)
                else:
                    await self.task_event({"frame": frame})

    async def task_event(self, message: dict[str, Any]) -> None:
        """An event published for a watched task."""
        frame = message["frame"]
        last = self.watched.get(frame["uuid"])
        if last is None or frame["seq"] <= last:
            return
        if frame["type"] == "update" and last >= 0:
            base = frame.get("base", frame["seq"] - 1)
            if base != last:
                # Events were lost, or a merged frame overlaps what was sent: resync.
                await self._send_snapshot(frame["uuid"])
                return
            if "base" in frame and base == frame["seq"] - 1:
                frame = {k: v for k, v in frame.items() if k != "base"}
        await self._forward(frame)

    async def _forward(self, frame: dict[str, Any], *, force: bool = False) -> None:
        uuid = frame["uuid"]
        last = self.watched.get(uuid)
        # A snapshot may repeat the last seq (a re-subscribe asks for one) but never
        # go back: the client would lose state it already applied.
        if last is None or frame["seq"] < last or (frame["seq"] == last and not force):
            return
        self.watched[uuid] = frame["seq"]
        await self._send(frame)
        if frame["type"] == "snapshot" and frame["task"]["status"] in TERMINAL_STATUSES:
            await self._leave(uuid)

    async def _join(self, uuid: str) -> None:
        """Have the process join the task's group; if the layer is unreachable, the
        re-check catches up."""
        hub = self._hub()
        if hub is None:
            return
        try:
            await hub.join(protocol.task_group(uuid), self)
        except Exception as exc:
            logger.warning("Could not join the group of task %s: %r", uuid, exc)

    def _hub(self) -> Hub | None:
        return get_hub()

    # -- batch groups, through the same hub --------------------------------------------

    async def _batch_join(self, uuid: str) -> None:
        hub = self._hub()
        if hub is None:
            return
        try:
            await hub.join(protocol.batch_group(uuid), self)
        except Exception as exc:
            logger.warning("Could not join the group of batch %s: %r", uuid, exc)

    async def _batch_leave(self, uuid: str) -> None:
        self._drop_held(uuid)
        self._sent_at.pop(uuid, None)
        if self.batches.pop(uuid, None) is not None:
            hub = self._hub()
            if hub is not None:
                hub.leave(protocol.batch_group(uuid), self)

    # -- output -----------------------------------------------------------------------

    async def _error(self, uuid: str | None, code: str, detail: str) -> None:
        await self._send({"type": "error", "uuid": uuid, "code": code, "detail": detail})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=_encode(frame))


_encoded: dict[int, tuple[dict[str, Any], str]] = {}


def _encode(frame: dict[str, Any]) -> str:
    """JSON text of a frame; the same event goes to every watcher, so encode it once."""
    cached = _encoded.get(id(frame))
    if cached is not None and cached[0] is frame:
        return cached[1]
    text = json.dumps(frame, separators=(",", ":"))
    if len(_encoded) >= 64:
        _encoded.clear()
    _encoded[id(frame)] = (frame, text)
    return text


def _parse_uuid(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return None
