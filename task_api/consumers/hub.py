"""One channel layer membership per server process and group, dispatched in process.

Each event loop serving WebSockets has one :class:`Hub`, with its own channel: it
joins a group for its first local listener and hands the group's events to every
local listener, so Redis work per event grows with processes, not connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

from task_api import probes, protocol
from task_api.conf import task_api_settings

logger = logging.getLogger("task_api.consumers")

RETRY_DELAY = 1.0
# Listeners handed an event between two turns of the event loop: the server writes
# what they sent in the next turn, so the first sockets do not wait for the last.
TURN = 100


class Listener(Protocol):
    """A connection that wants the events of some groups."""

    def deliver(self, group: str, message: dict[str, Any]) -> None:
        """Take one event of ``group``; must not block."""


class Hub:
    """The group memberships and event dispatch of one event loop."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.listeners: dict[str, set[Listener]] = {}
        self._joins: dict[str, asyncio.Future[None]] = {}
        self._channel_ready: asyncio.Future[str] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self, group: str, listener: Listener) -> None:
        """Send the group's events to ``listener``; returns once this process is a member (or
        raises the layer's error: the listener stays registered, and :meth:`rejoin` retries)."""
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
            await self.hand_out(message)

    async def hand_out(self, message: dict[str, Any]) -> None:
        """Hand one received message to the local listeners of its group, letting the
        event loop turn after every ``TURN`` listeners."""
        group = _group_of(message)
        if group is None:
            return
        listeners = list(self.listeners.get(group, ()))
        for start in range(0, len(listeners), TURN):
            if start:
                await asyncio.sleep(0)
            self._deliver(group, message, listeners[start : start + TURN])

    @staticmethod
    def _deliver(group: str, message: dict[str, Any], listeners: list[Listener]) -> None:
        for listener in listeners:
            try:
                listener.deliver(group, message)
            except Exception:
                logger.exception("Could not hand a task event to a connection")


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
