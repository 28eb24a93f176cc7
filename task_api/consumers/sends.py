"""Sending an ASGI message from synchronous code, when the server takes it at once."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from channels.sessions import InstanceSessionWrapper

logger = logging.getLogger("task_api.consumers")

EAGER = sys.version_info >= (3, 12)  # asyncio.Task(eager_start=...)


def server_send(
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The server's send under Channels' session middleware.

    The middleware's send saves the session before ``http.response.start``
    only; for WebSocket messages it just passes them on, after reading the
    session's state (about a tenth of the cost of a frame in daphne)."""
    wrapper = getattr(send, "__self__", None)
    if isinstance(wrapper, InstanceSessionWrapper) and "websocket.send" not in getattr(
        wrapper, "save_message_types", ("websocket.send",)
    ):
        real: Callable[[dict[str, Any]], Awaitable[None]] = wrapper.real_send
        return server_send(real)
    return send


def send_now(
    send: Callable[[dict[str, Any]], Awaitable[None]], message: dict[str, Any]
) -> asyncio.Future[None] | None:
    """Start sending ``message``; a send that does not wait (daphne's) ends before this returns.

    Returns the send, done or still running, or ``None`` where Python cannot
    start it synchronously (before 3.12), so the caller sends it in a task."""
    if not EAGER:
        return None
    sending: asyncio.Task[None] = asyncio.Task(  # type: ignore[call-arg,unused-ignore]
        _send(send, message), loop=asyncio.get_running_loop(), eager_start=True
    )
    return sending


async def _send(send: Callable[[dict[str, Any]], Awaitable[None]], message: dict[str, Any]) -> None:
    try:
        await send(message)
    except Exception:
        logger.exception("Could not send a frame")
