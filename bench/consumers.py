"""A bare Channels consumer, the baseline of the WebSocket scenarios.

It joins the group named in its URL and forwards each ``bench.event`` as it
comes: no subscription protocol, no database, no ordering or resync.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class BareConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Forwards the events of one group."""

    async def connect(self) -> None:
        self.group = "bench." + self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def bench_event(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"t": message["t"]}))
