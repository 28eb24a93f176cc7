"""One channel layer membership per server process and group, dispatched in process.

Each event loop serving WebSockets has one :class:`Hub`, with its own channel: it
joins a group for its first local listener and hands the group's events to every
local listener, so Redis work per event grows with processes, not connections.

The hub reads events as they come and keeps each group's recent ones in a
:class:`Window`; a pass over the group's listeners offers each the newest state
that applies on what it has (:meth:`Window.offer`: the events it missed, merged by
the rule of their kind, encoded once for every listener at the same point). An
event that arrives during a pass reaches the listeners the pass has not reached
yet in the same frame, and the others in the next pass: however many events come,
a listener is never more than one pass behind the newest, and the final state
never waits behind updates that it supersedes. Passes that carry no final state
rest as long as the pass before took (:data:`REST`), so that a process with many
listeners of one busy group keeps time to write the final state at once, and
their clients to read it, rather than spending it all on updates that the next
one overtakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from task_api import probes, protocol
from task_api.conf import task_api_settings
from task_api.consumers import inbox
from task_api.protocol import Frame

logger = logging.getLogger("task_api.consumers")

RETRY_DELAY = 1.0
# Listeners handed an event between two turns of the event loop: the server writes
# what they sent in the next turn, so the first sockets do not wait for the last.
TURN = 100
WINDOW = 64  # events of a group kept for the listeners that have not caught up
REST = 1.0  # between passes of updates, this much of the time the pass before took

Offer = tuple[Frame, str]  # a frame and its JSON text
BEHIND: Offer = ({}, "")  # what :meth:`Window.offer` answers when only a snapshot helps


class Rules(Protocol):
    """How the frames of a group's kind merge and apply (a subscription's ``Kind``)."""

    update: str  # the type of its update frames
    changes: bool  # updates apply on the last seq sent, else they are complete

    @property
    def merge(self) -> Callable[[list[Frame], Frame], None]:
        """Adds an event to the pending ones."""

    @property
    def base(self) -> Callable[[Frame], int]:
        """The ``seq`` an update applies on."""

    @property
    def final(self) -> Callable[[Frame], bool]:
        """Whether a frame is the last of its subject."""


class Listener(Protocol):
    """A connection that wants the events of some groups."""

    def offer(self, group: str, window: Window) -> int:
        """The group has events newer than those offered before: take what applies (see
        :meth:`Window.offer`) now or later; must not block. Returns the ``seq`` it has
        now (what it may still need from the window is newer)."""


class Window:
    """The recent events of one group, and what each point of it is offered."""

    __slots__ = (
        "_offers",
        "again",
        "events",
        "final",
        "newest",
        "passing",
        "rests_until",
        "rules",
        "waking",
    )

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.events: list[Frame] = []
        self.newest = -1  # the highest seq of an event
        self._offers: dict[int, Offer | None] = {}  # by the seq a listener has
        self.passing: asyncio.Task[None] | None = None  # the pass over the listeners
        self.again = False  # an event came during the pass
        self.final = False  # ... and it was a final state: the next pass does not rest
        self.rests_until = 0.0  # loop time before which a pass of updates waits
        self.waking: asyncio.Future[None] | None = None  # ends the rest early

    def add(self, frame: Frame) -> None:
        """Keep an event (a state that is not an update supersedes those before it); a pass
        forgets those that every listener has (:meth:`drop_until`)."""
        events = self.events
        if frame["type"] != self.rules.update:
            events.clear()
        events.append(frame)
        del events[:-WINDOW]
        self.newest = max(self.newest, frame["seq"])
        self._offers.clear()
        self.again = True
        if self.rules.final(frame):
            self.final = True
            if self.waking is not None and not self.waking.done():
                self.waking.set_result(None)

    def drop_until(self, seq: int) -> None:
        """Forget the events up to ``seq``: no listener needs them any more."""
        if self.events and self.events[0]["seq"] <= seq:
            self.events[:] = [frame for frame in self.events if frame["seq"] > seq]
            self._offers.clear()

    async def rest(self) -> None:
        """Wait until the rest after the last pass ends, or a final state comes."""
        loop = asyncio.get_running_loop()
        wait = self.rests_until - loop.time()
        if wait <= 0 or self.final:
            return
        self.waking = loop.create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self.waking
        self.waking = None

    def offer(self, last: int) -> Offer | None:
        """What a listener that has ``last`` gets next: the first frame of the events it has
        not got, merged, with its text; ``None`` if none is newer; :data:`BEHIND` if they
        do not apply on ``last`` (events older than the window, or lost)."""
        if last >= self.newest:
            return None
        if last in self._offers:
            return self._offers[last]
        offer = self._offers[last] = self._merge(last)
        return offer

    def _merge(self, last: int) -> Offer | None:
        rules, pending = self.rules, list[Frame]()
        for frame in self.events:
            if frame["seq"] <= last:
                continue
            if pending:
                rules.merge(pending, frame)
            else:
                pending.append(frame)
        if not pending:
            return BEHIND  # newer events were forgotten: every listener had them then
        first = pending[0] if rules.changes else pending[-1]  # complete states: the newest
        if first["type"] == inbox.RESYNC:
            return BEHIND  # too many to merge
        if rules.changes and first["type"] == rules.update:
            if last < 0 or rules.base(first) != last:
                return BEHIND
            if first.get("base") == first["seq"] - 1:
                first = {key: value for key, value in first.items() if key != "base"}
        return first, protocol.encode(first)


class Hub:
    """The group memberships and event dispatch of one event loop."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.listeners: dict[str, set[Listener]] = {}
        self.windows: dict[str, Window] = {}
        self._joins: dict[str, asyncio.Future[None]] = {}
        self._channel_ready: asyncio.Future[str] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self, group: str, listener: Listener, rules: Rules) -> None:
        """Offer the group's events to ``listener``; returns once this process is a member (or
        raises the layer's error: the listener stays registered, and :meth:`rejoin` retries)."""
        if group not in self.windows:
            self.windows[group] = Window(rules)
        listeners = self.listeners.setdefault(group, set())
        if listener not in listeners:
            listeners.add(listener)
            probes.probe.subscriptions(1)
        joining = self._joins.get(group)
        if joining is None or (joining.done() and joining.exception() is not None):
            joining = self._joins[group] = asyncio.ensure_future(self._group_add(group))
        await asyncio.shield(joining)

    def leave(self, group: str, listener: Listener) -> None:
        """Stop sending the group's events to ``listener`` (the membership stays until
        :meth:`sweep`, so a task watched again soon costs no new ``group_add``)."""
        listeners = self.listeners.get(group, set())
        if listener in listeners:
            listeners.remove(listener)
            probes.probe.subscriptions(-1)
        if not listeners:
            self.listeners.pop(group, None)
            self.windows.pop(group, None)  # a pass over it ends with its listeners

    async def rejoin(self, group: str) -> None:
        """Join the group again (the layer may have lost it, e.g. after a Redis restart)."""
        joining = self._joins[group] = asyncio.ensure_future(self._group_add(group))
        await asyncio.shield(joining)

    async def sweep(self) -> None:
        """Leave the groups that no local listener watches any more."""
        for group in [g for g in self._joins if g not in self.listeners]:
            self._joins.pop(group, None)
            if self.channel is not None:
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(group, self.channel)
            if group in self.listeners and group not in self._joins:
                with contextlib.suppress(Exception):
                    await self.rejoin(group)  # watched again while we left

    def close(self) -> None:
        """Stop receiving (the layer was replaced)."""
        probes.probe.subscriptions(-sum(map(len, self.listeners.values())))
        self.listeners.clear()
        for window in self.windows.values():
            if window.passing is not None:
                window.passing.cancel()
        self.windows.clear()
        if self._reader is not None:
            self._reader.cancel()

    async def _group_add(self, group: str) -> None:
        channel = await self._ensure_channel()
        await self.layer.group_add(group, channel)

    async def _ensure_channel(self) -> str:
        ready = self._channel_ready
        if ready is None or (ready.done() and ready.exception() is not None):
            ready = self._channel_ready = asyncio.ensure_future(self.layer.new_channel())
        channel = str(await asyncio.shield(ready))
        if self.channel is None:
            self.channel = channel
            self._reader = asyncio.get_running_loop().create_task(self._read(channel))
        return channel

    async def _read(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Could not receive task events: %r; retrying", exc)
                await asyncio.sleep(RETRY_DELAY)
                continue
            self.put(message)
            await asyncio.sleep(0)  # a backlog of events merges; passes go on meanwhile

    def put(self, message: dict[str, Any]) -> asyncio.Task[None] | None:
        """Keep a received event in its group's window and start a pass over the group's
        listeners unless one runs (it makes another pass when it ends); the pass, if any."""
        group, frame = _group_of(message), message.get("frame")
        window = self.windows.get(group) if group is not None else None
        if window is None or not isinstance(frame, dict) or not isinstance(frame.get("seq"), int):
            return None
        assert group is not None
        window.add(frame)
        if window.passing is None or window.passing.done():
            window.passing = asyncio.get_running_loop().create_task(self._pass(group, window))
        return window.passing

    async def hand_out(self, message: dict[str, Any]) -> None:
        """Hand one received message to the local listeners of its group; returns once they
        were all offered it."""
        passing = self.put(message)
        if passing is not None:
            await passing

    async def _pass(self, group: str, window: Window) -> None:
        """Offer the window to every listener of the group, letting the event loop turn after
        every ``TURN`` listeners; again while events came meanwhile, after a rest."""
        loop = asyncio.get_running_loop()
        while window.again:
            await window.rest()
            window.again = window.final = False
            began = loop.time()
            listeners = list(self.listeners.get(group, ()))
            needed = window.newest  # the lowest seq a listener has
            for start in range(0, len(listeners), TURN):
                if start:
                    await asyncio.sleep(0)
                needed = min(needed, self._offer(group, window, listeners[start : start + TURN]))
            if not window.again:
                window.drop_until(needed)
            window.rests_until = loop.time() + (loop.time() - began) * REST

    @staticmethod
    def _offer(group: str, window: Window, listeners: list[Listener]) -> int:
        """Offer the window to ``listeners``; the lowest ``seq`` they have."""
        needed = window.newest
        for listener in listeners:
            try:
                needed = min(needed, listener.offer(group, window))
            except Exception:
                needed = -1
                logger.exception("Could not hand a task event to a connection")
        return needed


def _group_of(message: dict[str, Any]) -> str | None:
    """The group a message names, or (older publishers) that its frame's uuid implies."""
    group, frame = message.get("group"), message.get("frame")
    if isinstance(group, str):
        return group
    if not isinstance(frame, dict):
        return None
    if frame.get("batch"):
        return protocol.batch_group(frame["batch"])
    return protocol.task_group(frame["uuid"]) if frame.get("uuid") else None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub | None:
    """The hub of the running event loop, or ``None`` without a channel layer."""
    layer = get_channel_layer(task_api_settings.channel_layer_alias)
    if layer is None:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        if hub is not None:
            hub.close()
        hub = _hubs[loop] = Hub(layer)
    return hub
