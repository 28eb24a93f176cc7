"""A warning for server settings that cost memory on every WebSocket connection.

uvicorn negotiates per-message deflate by default (``--ws-per-message-deflate``,
on) whenever the client offers it, as every browser does: zlib state for each
connection, about 300 KiB allocated at uvicorn's settings, for task frames that
are small JSON. The ASGI scope does not tell (uvicorn's ``extensions`` name only
``websocket.http.response``), so the check reads the client's offer in the
headers and uvicorn's own setting through the server's ``send``; daphne never
negotiates it.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("task_api.consumers")

FIX = "--ws-per-message-deflate false"
_warned = False


def deflate_offered(scope: dict[str, Any]) -> bool:
    """Whether the client offered per-message deflate in its handshake."""
    return any(
        name == b"sec-websocket-extensions" and b"permessage-deflate" in value.lower()
        for name, value in scope.get("headers", ())
    )


def server_deflates(send: Any) -> bool:
    """Whether the server behind ``send`` (the server's own, not a middleware's) accepts
    per-message deflate: uvicorn's setting, whichever of its WebSocket protocols runs."""
    config = getattr(getattr(send, "__self__", None), "config", None)
    return bool(getattr(config, "ws_per_message_deflate", False))


def check_connection(scope: dict[str, Any], send: Any) -> None:
    """Log once per process if this connection gets per-message deflate."""
    global _warned
    if _warned or not deflate_offered(scope) or not server_deflates(send):
        return
    _warned = True
    logger.warning(
        "WebSocket connections are compressed (per-message deflate): zlib state of about "
        "300 KiB per connection, for small JSON frames. Start uvicorn with %s.",
        FIX,
    )
