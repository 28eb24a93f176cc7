"""WebSocket clients of the bench (the ``websockets`` package) and the shared clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from .clock import now_us

__all__ = ["is_terminal", "now_us", "open_socket", "progress_of", "receive", "subscribe"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def open_socket(url: str, *, cookie: str = "", origin: str = "") -> Any:
    """``async with open_socket(...) as ws``: no compression, no proxy, no keepalive pings."""
    return connect(
        url,
        additional_headers={"Cookie": cookie} if cookie else None,
        origin=Origin(origin) if origin else None,
        compression=None,
        proxy=None,
        open_timeout=30,
        close_timeout=2,
        ping_interval=None,
        max_queue=None,
    )


async def receive(ws: ClientConnection, timeout: float) -> tuple[int, dict[str, Any]] | None:
    """The next JSON frame and its arrival (µs), or ``None`` after ``timeout`` s of silence."""
    try:
        raw = await asyncio.wait_for(ws.recv(), max(timeout, 0.001))
    except TimeoutError:
        return None
    arrival = now_us()
    frame: dict[str, Any] = json.loads(raw)
    return arrival, frame


class Sends(Protocol):
    """A client connection that sends text (``websockets``' or :mod:`.lean_ws`'s)."""

    async def send(self, message: str, /) -> None: ...


async def subscribe(ws: Sends, uuid: str) -> None:
    """Ask the task API to watch ``uuid``."""
    await ws.send(json.dumps({"type": "subscribe", "uuid": uuid}))


def progress_of(frame: dict[str, Any]) -> int | None:
    """The progress a task frame carries, if any."""
    if frame.get("type") == "snapshot":
        value = frame["task"]["progress"]
    elif frame.get("type") == "update":
        value = frame["set"].get("progress")
    else:
        value = None
    return value if isinstance(value, int) else None


def is_terminal(frame: dict[str, Any]) -> bool:
    """Whether the frame is the terminal snapshot of a task."""
    return frame.get("type") == "snapshot" and frame["task"]["status"] in TERMINAL
