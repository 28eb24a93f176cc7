"""The WebSocket consumer: watch tasks and batches, start tasks (see ``docs/protocol.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import uuid as uuid_lib
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.sessions import InstanceSessionWrapper

from task_api import probes, protocol
from task_api.api.errors import Refusal
from task_api.conf import task_api_settings
from task_api.consumers import inbox, starts, subscriptions
from task_api.consumers.hub import get_hub
from task_api.consumers.subscriptions import TASKS, Kind, Subscription
from task_api.engine import policy, publisher, sharing
from task_api.engine.policy import Actor
from task_api.exceptions import ShareRefused
from task_api.models import TERMINAL_STATUSES
from task_api.protocol import Frame, FrameError

logger = logging.getLogger("task_api.consumers")

Send = Callable[[dict[str, Any]], Awaitable[None]]
EAGER = sys.version_info >= (3, 12)  # asyncio.Task(eager_start=...)
SNAPSHOT: Frame = {}  # what a frame needs when it does not apply on what was sent
MAX_LINKS = 100  # share links one connection holds at once


class TaskConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Forwards the events of what a connection watches, in order, without gaps.

    A client frame goes to ``receive_<type>`` (a subclass adds one). The process's
    :class:`~.hub.Hub` hands each event to :meth:`deliver`: an idle connection writes
    it at once, a busy one keeps it in its :class:`~.inbox.Inbox`, drained in turn.
    """

    groups: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(task_api_settings.channel_layer_alias)
        self.channel_name = ""
        self.base_send = _server_send(send)
        self.inbox = inbox.Inbox()
        self.subscriptions: dict[str, Subscription] = {}  # by group
        self.links: tuple[Any, ...] = ()  # share links presented in subscribe frames
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
        # Not Channels' own: it closes stale database connections before every handler (a
        # hop to the database thread per frame); database_sync_to_async does it where needed.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']!r}")
        await handler(message)

    async def connect(self) -> None:
        probes.probe.connections(1)
        if isinstance(self.channel_layer, InMemoryChannelLayer):
            publisher.current().bind_server_loop(asyncio.get_running_loop())
        await self.accept()
        subscriptions.watch(self)

    async def disconnect(self, code: int) -> None:
        probes.probe.connections(-1)
        for subscription in list(self.subscriptions.values()):
            self._leave(subscription)

    def actor(self) -> Actor:
        """Who is asking, for the access policy, with the share links it presented."""
        return Actor.of(self.scope.get("user"), self.scope.get("session"), self.links)

    async def _add_link(self, token: Any, about: dict[str, Any]) -> None:
        """Hold the share link of ``token`` for this connection's subscriptions."""
        try:
            link = await database_sync_to_async(sharing.resolve)(token)
        except ShareRefused as refused:
            raise FrameError(refused.code, str(refused), **about) from None
        if all(held.pk != link.pk for held in self.links):
            self.links = (*self.links, link)[-MAX_LINKS:]

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            types = _frame_types(type(self))
            frame = protocol.read(text_data, task_api_settings.max_frame_bytes, types)
            await getattr(self, "receive_" + frame["type"])(frame)
        except FrameError as refused:
            await self.send_frame(refused.frame)

    async def receive_ping(self, frame: Frame) -> None:
        await self.send_frame(protocol.pong_frame())

    async def receive_subscribe(self, frame: Frame) -> None:
        kind = subscriptions.kind_of(frame)
        uuid = kind.subject_of(frame)
        start = kind.start(frame)
        if "share" in frame:
            await self._add_link(frame["share"], kind.about_of(uuid))
        subscription = self._watch(kind, uuid, **kind.about_of(uuid))
        if kind.resumable:
            subscription.last = start  # what the client has: it reads on from there
        # Join first, then read: no event can fall between the snapshot and the stream.
        await self._join(subscription)
        await self._send_snapshot(subscription, repeat=True)

    async def receive_unsubscribe(self, frame: Frame) -> None:
        kind = subscriptions.kind_of(frame)
        group = kind.group(kind.subject_of(frame))
        if group in self.subscriptions:
            self._leave(self.subscriptions[group])

    async def receive_start(self, frame: Frame) -> None:
        """Start a task (:mod:`.starts`) and watch it; the answer counts as its snapshot."""
        ref = protocol.start_ref(frame)
        # Join the group of the task-to-be first: no event can fall before the answer.
        planned = uuid_lib.uuid4()
        subscription = self._watch(TASKS, str(planned), ref=ref, status=429)
        await self._join(subscription)
        outcome = await starts.start(self.scope, frame, planned)
        if not isinstance(outcome, Refusal) and outcome[1]["uuid"] != subscription.uuid:
            # A repeat of an earlier start with the same key: watch that task instead.
            self._leave(subscription)
            subscription = self._watch(TASKS, outcome[1]["uuid"], ref=ref, status=429)
            await self._join(subscription)
            loaded = await subscriptions.read(TASKS, subscription.uuid)
            vanished = Refusal("unavailable", 503, "The task vanished.")
            outcome = vanished if loaded is None else (outcome[0], loaded[1])
        if isinstance(outcome, Refusal):
            self._leave(subscription)
            await self.send_frame(outcome.frame(ref))
            return
        created, task = outcome
        subscription.last = max(subscription.last, task["seq"])
        await self.send_frame(protocol.started_frame(ref, created, task))
        if task["status"] in TERMINAL_STATUSES:
            self._leave(subscription)

    def _watch(self, kind: Kind, uuid: str, /, **about: Any) -> Subscription:
        """The subscription to ``uuid``, new if need be; ``about`` names it in a refusal."""
        group = kind.group(uuid)
        subscription = self.subscriptions.get(group)
        if subscription is None:
            limit = task_api_settings.max_subscriptions
            if len(self.subscriptions) >= limit:
                detail = f"At most {limit} subscriptions per connection."
                raise FrameError("too_many", detail, **about)
            subscription = self.subscriptions[group] = Subscription(kind, uuid, group)
        return subscription

    async def _join(self, subscription: Subscription) -> None:
        """Have the process join the group; if the layer is unreachable, the re-check catches up."""
        hub = get_hub()
        try:
            if hub is not None:
                await hub.join(subscription.group, self)
        except Exception as exc:
            logger.warning("Could not join the group %s: %r", subscription.group, exc)

    def _leave(self, subscription: Subscription) -> None:
        if self.subscriptions.get(subscription.group) is not subscription:
            return
        del self.subscriptions[subscription.group]
        if subscription.timer is not None:
            subscription.timer.cancel()
        hub = get_hub()
        if hub is not None:
            hub.leave(subscription.group, self)

    async def _send_snapshot(self, subscription: Subscription, *, repeat: bool = False) -> None:
        """Send the object as stored now, if the connection may see it (``repeat``: even if
        the last frame sent had its ``seq``; never an older one)."""
        kind, uuid = subscription.kind, subscription.uuid
        loaded = await subscriptions.read(kind, uuid, subscription.last)
        if self.subscriptions.get(subscription.group) is not subscription:
            return
        if loaded is None or not await self._can_see(loaded[0]):
            self._leave(subscription)
            detail = f"No {kind.name} {uuid!r}."
            await self.send_frame(protocol.error_frame("not_found", detail, **kind.about_of(uuid)))
            return
        if "beyond" in loaded[1]:  # a stream position past what it holds
            self._leave(subscription)
            detail = f"offset: {loaded[1]['beyond']}"
            await self.send_frame(protocol.error_frame("invalid", detail, **kind.about_of(uuid)))
            return
        frame = kind.snapshot(loaded[1])
        if frame["seq"] > subscription.last or (repeat and frame["seq"] == subscription.last):
            await self._emit(subscription, frame)
            if kind.more(loaded[0], frame):
                self.behind(subscription, -1)  # read on from where this frame ends

    async def _can_see(self, obj: Any) -> bool:
        if policy.sees_in_memory():
            return policy.can_see(self.actor(), obj)
        return bool(await database_sync_to_async(policy.can_see)(self.actor(), obj))

    def deliver(self, group: str, message: dict[str, Any]) -> None:
        """Take an event of a watched group (called by the hub; never blocks)."""
        subscription = self.subscriptions.get(group)
        frame = message.get("frame")
        if (
            subscription is not None
            and isinstance(frame, dict)
            and (self._busy or self.inbox or not self._send_at_once(subscription, frame))
        ):
            self._queue(subscription, frame)

    def behind(self, subscription: Subscription, stored: int) -> None:
        """The re-check read ``stored`` from the database: catch up in turn with the events."""
        self._queue(subscription, inbox.resync(stored))

    def _queue(self, subscription: Subscription, frame: Frame) -> None:
        """Keep ``frame`` for its turn; an idle connection starts draining its inbox."""
        self.inbox.put(subscription.group, frame, subscription.kind.merge)
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
            logger.exception("Could not forward events")
        finally:
            self._busy = False
            self._draining = None

    async def _drain(self) -> None:
        """Handle the frames that waited in the inbox, per subscription in order."""
        while self.inbox:
            for group, frames in self.inbox.take().items():
                for frame in frames:
                    subscription = self.subscriptions.get(group)
                    if subscription is None:
                        break
                    if frame["type"] == inbox.RESYNC:
                        # Frames sent since the re-check may have caught up already.
                        if frame["seq"] < 0 or subscription.last < frame["seq"]:
                            await self._send_snapshot(subscription)
                        continue
                    verdict = self._verdict(subscription, frame)
                    if verdict is SNAPSHOT:
                        await self._send_snapshot(subscription)
                    elif verdict is not None:
                        await self._emit(subscription, verdict)

    def _send_at_once(self, subscription: Subscription, frame: Frame) -> bool:
        """Handle an event in the hub's pass, without waiting for a turn; ``False`` when it
        needs the connection's turn (a snapshot to catch up, or no way to send at once)."""
        if not EAGER:
            return False
        verdict = self._verdict(subscription, frame)
        if verdict is SNAPSHOT:
            return False
        if verdict is not None:
            sending = _send_now(self.base_send, protocol.encode(verdict))
            self._sent(subscription, verdict)
            if not sending.done():
                self._start_draining(sending)  # later events wait until this frame is written
        return True

    def _verdict(self, subscription: Subscription, frame: Frame) -> Frame | None:
        """What to send for an event: the frame (or its equal), ``None`` (stale, or held for
        the kind's interval) or :data:`SNAPSHOT` (it does not apply on what was sent)."""
        seq, last, kind = frame["seq"], subscription.last, subscription.kind
        if seq <= last:
            return None
        if frame["type"] != kind.update:
            return frame  # a snapshot
        if kind.changes:
            base = kind.base(frame)
            if last < 0 or base != last:
                return SNAPSHOT  # events were lost, or a merged frame overlaps what was sent
            if "base" in frame and base == seq - 1:
                frame = {key: value for key, value in frame.items() if key != "base"}
            return frame
        interval = kind.interval()
        if interval and not kind.final(frame):
            now = asyncio.get_running_loop().time()
            due = subscription.sent_at + interval
            if now < due:
                subscription.held = frame
                if subscription.timer is None:
                    subscription.timer = asyncio.get_running_loop().call_later(
                        due - now, self._release, subscription
                    )
                return None
            subscription.sent_at = now
        return frame

    def _release(self, subscription: Subscription) -> None:
        """The interval ended: the update held since is due (a timer callback)."""
        frame, subscription.held, subscription.timer = subscription.held, None, None
        subscription.sent_at = -math.inf
        if frame is not None:
            self.deliver(subscription.group, {"frame": frame})

    def _sent(self, subscription: Subscription, frame: Frame) -> None:
        subscription.last = frame["seq"]
        if subscription.kind.final(frame):
            self._leave(subscription)

    async def _emit(self, subscription: Subscription, frame: Frame) -> None:
        self._sent(subscription, frame)
        await self.send_frame(frame)

    async def send_frame(self, frame: Frame) -> None:
        """Send one frame to the client, in turn with the others."""
        await self.base_send({"type": "websocket.send", "text": protocol.encode(frame)})


_handled: dict[type, tuple[str, ...]] = {}


def _frame_types(cls: type) -> tuple[str, ...]:
    """The client frame types that ``cls`` has a ``receive_<type>`` handler for."""
    if cls not in _handled:
        _handled[cls] = tuple(n[8:] for n in dir(cls) if n.startswith("receive_"))
    return _handled[cls]


def _server_send(send: Send) -> Send:
    """The server's send under Channels' session middleware, which only passes WebSocket
    messages on, after reading the session's state (a tenth of a frame's cost in daphne)."""
    wrapper = getattr(send, "__self__", None)
    saved = getattr(wrapper, "save_message_types", ("websocket.send",))
    if isinstance(wrapper, InstanceSessionWrapper) and "websocket.send" not in saved:
        real: Send = wrapper.real_send
        return _server_send(real)
    return send


def _send_now(send: Send, text: str) -> asyncio.Task[None]:
    """Start sending ``text``; a send that does not wait (daphne's) ends before this returns."""
    return asyncio.Task(  # type: ignore[call-arg,unused-ignore]
        _send_logged(send, {"type": "websocket.send", "text": text}),
        loop=asyncio.get_running_loop(),
        eager_start=True,
    )


async def _send_logged(send: Send, message: dict[str, Any]) -> None:
    try:
        await send(message)
    except Exception:
        logger.exception("Could not send a frame")
