"""The Server-Sent Events door of a :class:`~.connection.Connection` (``docs/protocol.md``).

An :class:`EventStream` is the body of one ``text/event-stream`` response: each frame
is an event named by its ``type``, its data the frame's JSON (one line), its ``id``
the :class:`Position` after it, which a reconnecting ``EventSource`` sends back in
``Last-Event-ID``. Frames are taken by the response as the server writes them: while
one is being written, later events wait and merge in the connection's inbox.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import SyncToAsync
from django.db import connections

from task_api import protocol
from task_api.consumers import subscriptions
from task_api.consumers.connection import Connection
from task_api.consumers.subscriptions import STREAMS, Kind, Subscription
from task_api.engine.policy import Actor
from task_api.models import TERMINAL_STATUSES
from task_api.protocol import Frame

logger = logging.getLogger("task_api.consumers")

RETRY_MS = 1000  # how long EventSource waits before it reconnects
MAX_ID_LENGTH = 1000
_ID = re.compile(r"(-1|\d{1,12})((?:;[A-Za-z0-9_-]{1,40}=\d{1,12})*)")


@dataclass
class Position:
    """Where a client is: the ``seq`` of the last task or batch frame it got (``-1``: none)
    and the next position of each watched stream. As an event ``id``: ``12;answer=340;rows=3``
    (a batch's: ``12``)."""

    seq: int = -1
    streams: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return str(self.seq) + "".join(f";{name}={at}" for name, at in self.streams.items())

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position an event ``id`` says; :class:`ValueError` if it says none."""
        match = _ID.fullmatch(text) if len(text) <= MAX_ID_LENGTH else None
        if match is None:
            shown = text[:50] + ("…" if len(text) > 50 else "")
            raise ValueError(f"{shown!r} is not an event id of this stream.")
        streams = {}
        for item in match.group(2).split(";")[1:]:
            name, _, at = item.partition("=")
            streams[name] = protocol.position(at)
        return cls(int(match.group(1)), streams)


@dataclass(frozen=True)
class Watch:
    """One subscription to open: from ``last`` (the ``seq`` the client has, if known), with
    its snapshot even if the client has its ``seq`` (``repeat``)."""

    kind: Kind
    subject: str
    last: int | None = None
    repeat: bool = True


class EventStream(Connection):
    """One client's ``text/event-stream`` response (see the module's docstring); it ends
    once nothing is watched any more (every subscription reached its last frame)."""

    eager = True  # a frame is queued for the response at once

    def __init__(self, actor: Actor, position: Position, heartbeat: float) -> None:
        self.open_connection()
        self._actor = actor
        self.position = position
        self.heartbeat = max(heartbeat, 0.0)  # 0: none
        self._out: list[str] = []
        self._taken: asyncio.Future[None] | None = None  # done when the response takes _out
        self._wake = asyncio.Event()
        self._opening: asyncio.Task[None] | None = None

    def actor(self) -> Actor:
        return self._actor

    async def body(self, watches: list[Watch]) -> AsyncIterator[str]:
        """The response: a ``retry`` line, then the events, ``: ping`` after ``heartbeat``
        seconds without any, until nothing is watched or the client leaves."""
        try:
            await _release_request_thread()
        except Exception as exc:  # it is let go at the end all the same
            logger.warning("Could not let the request's thread go: %r", exc)
        # The connection's tasks (and the hub's and the re-check's, if it starts them) run
        # outside the request's context, as a WebSocket's do: they outlive no request.
        self._opening = asyncio.get_running_loop().create_task(
            self.take_turn(self._open, watches), context=contextvars.Context()
        )
        self._opening.add_done_callback(lambda _: self._wake.set())
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while True:
                self._wake.clear()
                if self._out:
                    yield self._take()
                elif self._opening.done() and not self.subscriptions:
                    return
                else:
                    try:
                        async with asyncio.timeout(self.heartbeat or None):
                            await self._wake.wait()
                    except TimeoutError:
                        yield ": ping\n\n"
        finally:
            self._opening.cancel()
            self.close_connection()

    async def _open(self, watches: list[Watch]) -> None:
        subscriptions.watch(self)
        try:
            for watch in watches:
                await self.subscribe(
                    watch.kind, watch.subject, last=watch.last, repeat=watch.repeat
                )
        except Exception as exc:
            logger.warning("Could not open an event stream: %r", exc)
            self.leave_all()
            detail = "The server could not read what this stream watches; try again."
            await self.send_frame(protocol.error_frame("unavailable", detail))

    def send_now(self, frame: Frame, text: str | None = None) -> asyncio.Future[None]:
        kind = frame["type"]
        if kind == "chunks":
            self.position.streams[frame["stream"]] = frame["next"]
        elif "seq" in frame:
            self.position.seq = frame["seq"]
            if kind == "snapshot" and frame["task"]["status"] in TERMINAL_STATUSES:
                asyncio.get_running_loop().call_soon(self._finish_streams)
        data = protocol.encode(frame) if text is None else text
        self._out.append(f"id: {self.position}\nevent: {kind}\ndata: {data}\n\n")
        self._wake.set()
        if self._taken is None:
            self._taken = asyncio.get_running_loop().create_future()
        return self._taken

    async def send_frame(self, frame: Frame, text: str | None = None) -> None:
        await self.send_now(frame, text)

    def _take(self) -> str:
        """Everything queued, for the response to write; the frames' senders go on."""
        text, self._out = "".join(self._out), []
        taken, self._taken = self._taken, None
        if taken is not None and not taken.done():
            taken.set_result(None)
        return text

    def _finish_streams(self) -> None:
        """The task ended: read its watched streams to their end now (a stream it never
        wrote gets no event to say it is done)."""
        for subscription in list(self.subscriptions.values()):
            if subscription.kind is STREAMS:
                self.behind(subscription, -1)

    def _leave(self, subscription: Subscription) -> None:
        super()._leave(subscription)
        self._wake.set()  # the response may be over


async def _release_request_thread() -> None:
    """Let the thread go that Django keeps for a request's sync code (its middleware, the
    admission) until the response ends: an event stream has no more use for it. Its
    database connections are closed there first."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None or getattr(context, "_executor", None) is not None:
        return  # not Django's request context, or an executor its caller owns
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        await asyncio.wrap_future(executor.submit(connections.close_all))
        executor.shutdown(wait=False)
