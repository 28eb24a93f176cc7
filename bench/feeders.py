"""Baseline senders, run as separate processes: ``python -m bench.feeders KIND ...``.

- ``redis URL CHANNEL RATE SECONDS``: raw Redis ``PUBLISH`` of timestamps.
- ``redis-stream URL CHANNEL RATE SECONDS``: raw Redis ``PUBLISH`` of numbered
  chunks, ``"<i>:<µs>"`` as the ``bench-stream`` task writes them, then ``end``.
- ``layer GROUP RATE SECONDS``: ``async_to_sync(get_channel_layer().group_send)``
  of timestamps from sync code, one call per event, as a plain Django app does.
- ``layer-burst GROUP COUNT OUT``: ``COUNT`` group sends as fast as one event loop
  can, then when it began and ended (µs) written to ``OUT``.

Timed feeds end with the timestamp ``-1``.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .clock import now_us


def paced(rate: float, seconds: float, send: Callable[[int], None]) -> None:
    """Call ``send(now_us())`` ``rate`` times a second for ``seconds``, then ``send(-1)``."""
    period, count = 1.0 / rate, int(rate * seconds)
    start = time.monotonic()
    for i in range(count):
        delay = start + i * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send(now_us())
    time.sleep(0.05)
    send(-1)


def feed_redis(url: str, channel: str, rate: float, seconds: float) -> None:
    import redis

    client = redis.Redis.from_url(url)

    def send(t: int) -> None:
        client.publish(channel, f'{{"t":{t}}}')

    paced(rate, seconds, send)


def feed_redis_stream(url: str, channel: str, rate: float, seconds: float) -> None:
    import redis

    client = redis.Redis.from_url(url)
    index = itertools.count()

    def send(t: int) -> None:
        client.publish(channel, f"{next(index)}:{t}" if t >= 0 else "end")

    paced(rate, seconds, send)


def _layer_group(group: str) -> str:
    import django

    django.setup()
    return "bench." + group


def feed_layer(group: str, rate: float, seconds: float) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    name = _layer_group(group)

    def send(t: int) -> None:
        async_to_sync(get_channel_layer().group_send)(name, {"type": "bench.event", "t": t})

    paced(rate, seconds, send)


def burst_layer(group: str, count: int, out: Path) -> None:
    from channels.layers import get_channel_layer

    name = _layer_group(group)

    async def burst() -> tuple[int, int]:
        layer = get_channel_layer()
        began = now_us()
        for _ in range(count):
            await layer.group_send(name, {"type": "bench.event", "t": now_us()})
        return began, now_us()

    began, ended = asyncio.run(burst())
    out.write_text(f"{began} {ended}")


def main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "redis":
        feed_redis(args[0], args[1], float(args[2]), float(args[3]))
    elif kind == "redis-stream":
        feed_redis_stream(args[0], args[1], float(args[2]), float(args[3]))
    elif kind == "layer":
        feed_layer(args[0], float(args[1]), float(args[2]))
    elif kind == "layer-burst":
        burst_layer(args[0], int(args[1]), Path(args[2]))
    else:
        raise SystemExit(f"unknown feeder {kind!r}; use redis, redis-stream, layer or layer-burst")


if __name__ == "__main__":
    main(sys.argv[1:])
