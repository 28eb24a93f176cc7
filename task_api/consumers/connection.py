"""What one client connection watches, whatever carries its frames (WebSocket, SSE).

A :class:`Connection` holds the subscriptions of one client and forwards the events
of what it watches, in order, without gaps: the process's :class:`~.hub.Hub` offers
each group's newest events to :meth:`Connection.offer`; an idle connection writes
what applies on what it sent at once, a busy one notes in its :class:`~.inbox.Inbox`
to take it in turn, and then takes the newest (:meth:`~.hub.Window.offer`: what it
missed, merged). A transport subclasses it and writes frames
(:meth:`Connection.send_frame`, :meth:`Connection.send_now`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from channels.db import database_sync_to_async

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.consumers import inbox, subscriptions
from task_api.consumers.hub import BEHIND, Window, get_hub
from task_api.consumers.subscriptions import Kind, Subscription
from task_api.engine import policy
from task_api.engine.policy import Actor
from task_api.protocol import Frame, FrameError

logger = logging.getLogger("task_api.consumers")

T = TypeVar("T")


class Connection:
    """One client's subscriptions and the order of their frames (see the module's docstring).

    A subclass calls :meth:`open_connection` first and :meth:`close_connection` last, runs
    its own work in turn with the events through :meth:`take_turn`, and says how frames
    are written.
    """

    #: Whether :meth:`send_now` can write a frame in the hub's pass, without a turn.
    eager: ClassVar[bool] = False

    inbox: inbox.Inbox
    subscriptions: dict[str, Subscription]  # by group
    _busy: bool  # a turn runs: events wait in the inbox
    _draining: asyncio.Task[None] | None

    def open_connection(self) -> None:
        """Start with nothing watched."""
        self.inbox = inbox.Inbox()
        self.subscriptions = {}
        self._busy = False
        self._draining = None

    def close_connection(self) -> None:
        """Watch nothing more and stop forwarding (the client is gone)."""
        self.leave_all()
        if self._draining is not None:
            self._draining.cancel()

    def actor(self) -> Actor:
        """Who is asking, for the access policy."""
        raise NotImplementedError

    async def send_frame(self, frame: Frame, text: str | None = None) -> None:
        """Send one frame to the client (``text``: its JSON, if known), in turn with the
        others."""
        raise NotImplementedError

    def send_now(self, frame: Frame, text: str | None = None) -> asyncio.Future[None]:
        """Start sending ``frame`` at once (only if :attr:`eager`); done once it is written."""
        raise NotImplementedError

    async def take_turn(self, work: Callable[[T], Awaitable[None]], arg: T) -> None:
        """Run ``work(arg)`` after the events queued before it, then the events queued
        meanwhile."""
        while self._draining is not None:
            await asyncio.wait([self._draining])
        self._busy = True
        try:
            await work(arg)
            await self._drain()
        finally:
            self._busy = False

    async def subscribe(
        self, kind: Kind, uuid: str, *, last: int | None = None, repeat: bool = True
    ) -> Subscription:
        """Watch ``uuid`` (in a turn): from ``last``, the ``seq`` the client has, if given.
        Its snapshot follows (``repeat``: even if the client has its ``seq``)."""
        subscription = self._watch(kind, uuid, **kind.about_of(uuid))
        if last is not None:
            subscription.last = last
        # Join first, then read: no event can fall between the snapshot and the stream.
        await self._join(subscription)
        await self._send_snapshot(subscription, repeat=repeat)
        return subscription

    def unsubscribe(self, kind: Kind, uuid: str) -> None:
        """Stop watching ``uuid``."""
        group = kind.group(uuid)
        if group in self.subscriptions:
            self._leave(self.subscriptions[group])

    def leave_all(self) -> None:
        """Stop watching anything."""
        for subscription in list(self.subscriptions.values()):
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
                await hub.join(subscription.group, self, subscription.kind)
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
        frame = subscriptions.snapshot_of(kind, loaded[1])
        if frame["seq"] > subscription.last or (repeat and frame["seq"] == subscription.last):
            await self._emit(subscription, frame)
            if kind.more(loaded[0], frame):
                self.behind(subscription, -1)  # read on from where this frame ends

    async def _can_see(self, obj: Any) -> bool:
        if policy.sees_in_memory():
            return policy.can_see(self.actor(), obj)
        return bool(await database_sync_to_async(policy.can_see)(self.actor(), obj))

    def offer(self, group: str, window: Window) -> int:
        """The hub has newer events of a watched group (called in its pass; never blocks);
        returns the ``seq`` the connection has of it (newer events may wait for its turn)."""
        subscription = self.subscriptions.get(group)
        if subscription is None:
            return window.newest  # needs nothing more
        if self._busy or self.inbox or not self._send_at_once(subscription, window):
            self._queue(subscription, inbox.pull())
        return subscription.last

    def behind(self, subscription: Subscription, stored: int) -> None:
        """The re-check read ``stored`` from the database: catch up in turn with the events."""
        self._queue(subscription, inbox.resync(stored))

    def _queue(self, subscription: Subscription, frame: Frame) -> None:
        """Keep ``frame`` for its turn; an idle connection starts draining its inbox."""
        self.inbox.put(subscription.group, frame)
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
        """Handle what waited in the inbox, per subscription in order."""
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
                    else:
                        await self._pull(subscription)

    async def _pull(self, subscription: Subscription) -> None:
        """Send what the hub's window offers, up to its newest event."""
        snapshots = 0
        while self.subscriptions.get(subscription.group) is subscription:
            hub = get_hub()
            window = hub.windows.get(subscription.group) if hub is not None else None
            offer = window.offer(subscription.last) if window is not None else None
            if offer is None:
                return
            if offer is BEHIND:
                if snapshots:
                    return  # the database is behind the events: the re-check catches up
                snapshots += 1
                await self._send_snapshot(subscription)
                continue
            frame, text = offer
            if self._held(subscription, frame):
                return
            self._sent(subscription, frame)
            await self.send_frame(frame, text)

    def _send_at_once(self, subscription: Subscription, window: Window) -> bool:
        """Send what the window offers in the hub's pass, without waiting for a turn;
        ``False`` when it needs the connection's turn (a snapshot to catch up, or no way
        to send at once)."""
        if not self.eager:
            return False
        offer = window.offer(subscription.last)
        if offer is None:
            return True
        if offer is BEHIND:
            return False
        frame, text = offer
        if self._held(subscription, frame):
            return True
        sending = self.send_now(frame, text)
        self._sent(subscription, frame)
        if window.newest > subscription.last and subscription.group in self.subscriptions:
            self.inbox.put(subscription.group, inbox.pull())  # more follows, in turn
        if self.inbox or not sending.done():
            self._start_draining(None if sending.done() else sending)
        return True

    def _held(self, subscription: Subscription, frame: Frame) -> bool:
        """Whether the kind's interval holds ``frame`` back; a timer takes the newest when
        the interval ends."""
        kind = subscription.kind
        if kind.changes or frame["type"] != kind.update or kind.final(frame):
            return False
        interval = kind.interval()
        if not interval:
            return False
        loop = asyncio.get_running_loop()
        now, due = loop.time(), subscription.sent_at + interval
        if now >= due:
            subscription.sent_at = now
            return False
        if subscription.timer is None:
            subscription.timer = loop.call_later(due - now, self._release, subscription)
        return True

    def _release(self, subscription: Subscription) -> None:
        """The interval ended: the newest state is due (a timer callback)."""
        subscription.timer, subscription.sent_at = None, -math.inf
        if self.subscriptions.get(subscription.group) is subscription:
            self._queue(subscription, inbox.pull())

    def _sent(self, subscription: Subscription, frame: Frame) -> None:
        subscription.last = frame["seq"]
        if subscription.kind.final(frame):
            self._leave(subscription)

    async def _emit(self, subscription: Subscription, frame: Frame) -> None:
        self._sent(subscription, frame)
        await self.send_frame(frame)
