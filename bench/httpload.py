"""A small HTTP/1.1 keep-alive client on asyncio streams, and a bounded load loop.

The standard library has no async HTTP client and the bench must not depend
on one; this client speaks just what daphne answers (``Content-Length`` or
chunked bodies) and keeps one connection per concurrent worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Request = tuple[str, str, Any]  # method, path, JSON body or None


class HttpConnection:
    """One keep-alive connection to 127.0.0.1:``port``."""

    def __init__(self, port: int, authorization: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request and return the status and the body; reconnects if needed."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self.head}"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self.writer.write(head.encode() + payload)
        status_line, _, header_block = (await self.reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_block.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked()
        else:
            data = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A request whose answer is JSON."""
        status, data = await self.request(method, path, body)
        return status, json.loads(data) if data else None

    async def close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class LoadResult:
    """What a load run did."""

    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[Any] = field(default_factory=list)

    def count(self, *statuses: int) -> int:
        return sum(self.statuses[status] for status in statuses)

    def rate(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds if self.seconds else 0.0


async def load(
    port: int,
    authorization: str,
    make_request: Callable[[int], Request],
    *,
    total: int,
    concurrency: int,
    time_limit: float,
    keep_bodies: bool = False,
) -> LoadResult:
    """Send ``total`` requests over ``concurrency`` connections, stopping after ``time_limit`` s."""
    issued = 0
    result = LoadResult(seconds=0.0)
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        nonlocal issued
        connection = HttpConnection(port, authorization)
        try:
            while issued < total and time.monotonic() < deadline:
                index, issued = issued, issued + 1
                method, path, body = make_request(index)
                status, data = await connection.request(method, path, body)
                result.statuses[status] += 1
                if keep_bodies:
                    result.bodies.append(json.loads(data))
        finally:
            await connection.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.monotonic() - start
    return result
