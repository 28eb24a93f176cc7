"""The WebSocket consumer: watch tasks, batches and streams, start tasks (see
``docs/protocol.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from task_api.consumers import server_costs, starts, subscriptions
from task_api.consumers.connection import Connection
from task_api.consumers.subscriptions import TASKS
from task_api.engine import publisher, sharing
from task_api.engine.policy import Actor
from task_api.exceptions import ShareRefused
from task_api.models import TERMINAL_STATUSES
from task_api.protocol import Frame, FrameError

logger = logging.getLogger("task_api.consumers")

Send = Callable[[dict[str, Any]], Awaitable[None]]
EAGER = sys.version_info >= (3, 12)  # asyncio.Task(eager_start=...)
MAX_LINKS = 100  # share links one connection holds at once
# The JS client's heartbeat, as it sends it: 10,000 idle pages send 400 a second.
PING_TEXT = '{"type":"ping"}'  # as JSON.stringify writes it
PONG_MESSAGE = {"type": "websocket.send", "text": protocol.encode(protocol.pong_frame())}


class TaskConsumer(Connection, AsyncWebsocketConsumer):  # type: ignore[misc]
    """The WebSocket door of a :class:`~.connection.Connection`.

    A client frame goes to ``receive_<type>`` (a subclass adds one), in turn with the
    events of what the connection watches.
    """

    groups: list[str] = []
    eager = EAGER

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(task_api_settings.channel_layer_alias)
        self.channel_name = ""
        self.base_send = _server_send(send)
        self.open_connection()
        self.links: tuple[Any, ...] = ()  # share links presented in subscribe frames
        try:
            with contextlib.suppress(StopConsumer):
                while True:
                    message = await receive()
                    if message.get("text") == PING_TEXT:  # a heartbeat: no turn, no parse
                        await self.base_send(PONG_MESSAGE)
                    else:
                        await self._handle(message)
        finally:
            if self._draining is not None:
                self._draining.cancel()

    async def _handle(self, message: dict[str, Any]) -> None:
        """One client or server message, after the events queued before it."""
        await self.take_turn(self.dispatch, message)

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
        server_costs.check_connection(self.scope, self.base_send)
        subscriptions.watch(self)

    async def disconnect(self, code: int) -> None:
        probes.probe.connections(-1)
        self.leave_all()

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
        # A resumable kind reads on from what the client has.
        await self.subscribe(kind, uuid, last=start if kind.resumable else None)

    async def receive_unsubscribe(self, frame: Frame) -> None:
        kind = subscriptions.kind_of(frame)
        self.unsubscribe(kind, kind.subject_of(frame))

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

    def send_now(self, frame: Frame, text: str | None = None) -> asyncio.Future[None]:
        return _send_now(self.base_send, protocol.encode(frame) if text is None else text)

    async def send_frame(self, frame: Frame, text: str | None = None) -> None:
        """Send one frame to the client, in turn with the others."""
        text = protocol.encode(frame) if text is None else text
        await self.base_send({"type": "websocket.send", "text": text})


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
