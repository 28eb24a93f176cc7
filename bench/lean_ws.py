"""A lean WebSocket client for the scenarios with thousands of connections.

The ``websockets`` client costs tens of microseconds of Python a frame; 10,000 of
them in the bench process, on the cores the server uses, read a fan-out slower than
the server writes it, so the bench measured its own clients. This one parses frames
in ``data_received`` and stamps each message with the time its bytes arrived. It
speaks the part of RFC 6455 the bench needs: text frames, fragments, ping, close;
no extensions. Like the JS client, it sends the protocol's ``ping`` frame every
:data:`HEARTBEAT` seconds, the first at a random point of the period as if each
page had opened on its own, and drops the ``pong`` answers.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import random
import struct
from typing import Literal, overload
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosedError

from .clock import now_us

OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 2.0
HEARTBEAT = 25.0  # the JS client's period (static_src/src/socket.ts)
PING_TEXT, PONG_BYTES = '{"type":"ping"}', b'{"type":"pong"}'
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


class LeanSocket(asyncio.Protocol):
    """One client connection: ``send(text)``, ``await recv()``, ``arrival``, ``close()``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.buffer = bytearray()
        self.messages: collections.deque[tuple[int, bytes]] = collections.deque()
        self.fragments: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.arrival = 0  # when the bytes of the message ``recv`` returned last arrived (µs)
        self.beat: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        stamp = now_us()
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        self._parse(stamp)
        if self.messages:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.beat is not None:
            self.beat.cancel()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        self._wake()

    def _upgrade(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
        del self.buffer[: end + 4]
        if b" 101 " not in status:
            self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
            self._abort()
            return False
        self.upgraded = True
        self.opened.set_result(None)
        self.beat = asyncio.get_running_loop().call_later(HEARTBEAT * random.random(), self._ping)
        return True

    def _ping(self) -> None:
        self._write(TEXT, PING_TEXT.encode())
        self.beat = asyncio.get_running_loop().call_later(HEARTBEAT, self._ping)

    def _parse(self, stamp: int) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, length = buffer[0], buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self._frame(first & 0x0F, bool(first & 0x80), payload, stamp)

    def _frame(self, opcode: int, fin: bool, payload: bytes, stamp: int) -> None:
        if opcode in (TEXT, BINARY, CONTINUATION):
            self.fragments.append(payload)
            if fin:
                data = b"".join(self.fragments)
                self.fragments = []
                if data != PONG_BYTES:
                    self.messages.append((stamp, data))
        elif opcode == PING:
            self._write(PONG, payload)
        elif opcode == CLOSE:
            if not self.closed:
                self._write(CLOSE, payload[:2])
            self._abort()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, length)
        key = int.from_bytes(mask * ((length + 3) // 4), "big") >> (8 * (-length % 4))
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
        self.transport.write(head + mask + masked)

    def _abort(self) -> None:
        self.closed = True
        if self.beat is not None:
            self.beat.cancel()
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosedError(None, None)
        self._write(TEXT, text.encode())

    @overload
    async def recv(self, decode: Literal[True] = True) -> str: ...
    @overload
    async def recv(self, decode: Literal[False]) -> bytes: ...
    async def recv(self, decode: bool = True) -> str | bytes:
        """The next message (``decode``: as text); its arrival is in :attr:`arrival`."""
        while not self.messages:
            if self.closed:
                raise ConnectionClosedError(None, None)
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        self.arrival, data = self.messages.popleft()
        return data.decode() if decode else data

    async def close(self) -> None:
        if self.closed or self.transport is None:
            return
        self._write(CLOSE, struct.pack("!H", 1000))
        self.closed = True
        if self.beat is not None:
            self.beat.cancel()
        loop = asyncio.get_running_loop()
        loop.call_later(CLOSE_TIMEOUT, self.transport.close)


async def connect(url: str, *, cookie: str = "", origin: str = "") -> LeanSocket:
    """An open connection to ``url`` (``ws://host:port/path``)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(LeanSocket, host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"Origin: {origin}"] if origin else []
    lines += [f"Cookie: {cookie}"] if cookie else []
    assert socket.transport is not None
    socket.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        async with asyncio.timeout(OPEN_TIMEOUT):
            await socket.opened
    except BaseException:
        socket._abort()
        raise
    return socket
