"""Baseline (a) of push latency: a Redis subscriber forwarding each message over a bare
``websockets`` server. ``python -m bench.relay REDIS_URL CHANNEL PORT``.

It subscribes before it listens, so an open port means it is ready. It stops
by itself after ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

LIFETIME = 600.0


async def relay(url: str, channel: str, port: int) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        async for message in pubsub.listen():
            if message["type"] == "message":
                broadcast(clients, message["data"].decode())


def main(argv: list[str]) -> None:
    url, channel, port = argv
    with contextlib.suppress(TimeoutError):
        asyncio.run(asyncio.wait_for(relay(url, channel, int(port)), LIFETIME))


if __name__ == "__main__":
    main(sys.argv[1:])
