"""Reading ``text/event-stream`` answers in tests: through the ASGI application in
process (:class:`AsgiEvents`) or from a real server (:class:`HttpEvents`)."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from asgiref.testing import ApplicationCommunicator


@dataclass
class Event:
    """One event (``comment`` for a ``: ...`` line, ``retry`` for a ``retry:`` one)."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    comment: str | None = None
    retry: int | None = None

    @property
    def frame(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


@dataclass
class Parser:
    """The events in a byte stream, as EventSource reads them (one ``data`` line each)."""

    buffer: bytes = b""
    last_id: str | None = None
    events: list[Event] = field(default_factory=list)

    def feed(self, data: bytes) -> list[Event]:
        self.buffer += data
        parsed = []
        while b"\n\n" in self.buffer:
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            event = Event()
            for line in block.decode().split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    event.comment = value
                elif name == "id":
                    event.id = self.last_id = value
                elif name == "event":
                    event.event = value
                elif name == "data":
                    assert not event.data, "one data line per event"
                    event.data = value
                elif name == "retry":
                    event.retry = int(value)
                else:
                    raise AssertionError(f"unknown field {line!r}")
            parsed.append(event)
        self.events += parsed
        return parsed


def frames_of(events: list[Event]) -> list[dict[str, Any]]:
    """The frames of the events that carry one."""
    return [event.frame for event in events if event.data]


class AsgiEvents:
    """A GET through an ASGI application, its body read as it comes."""

    def __init__(self, application: Any, url: str, headers: dict[str, str] | None = None) -> None:
        path, _, query = url.partition("?")
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": urllib.parse.unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver"), *raw],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.communicator = ApplicationCommunicator(application, scope)
        self.parser = Parser()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.ended = False
        self._seen = 0

    async def open(self, timeout: float = 10) -> AsgiEvents:
        await self.communicator.send_input({"type": "http.request", "body": b""})
        start = await self.communicator.receive_output(timeout)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def next(self, timeout: float = 10) -> Event:
        """The next event (comments and the retry line included)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._seen < len(self.parser.events):
                self._seen += 1
                return self.parser.events[self._seen - 1]
            assert not self.ended, "the response ended"
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, "no event in time"
            await self._read(left)

    async def _read(self, timeout: float) -> None:
        message = await self.communicator.receive_output(timeout)
        assert message["type"] == "http.response.body", message
        self.body += message.get("body", b"")
        self.parser.feed(message.get("body", b""))
        if not message.get("more_body", False):
            self.ended = True

    async def until_end(self, timeout: float = 20) -> list[Event]:
        """Every event from the next one to the end of the response."""
        events = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                events.append(await self.next(deadline - asyncio.get_running_loop().time()))
            except AssertionError as exc:
                if "ended" in str(exc):
                    return events
                raise

    async def json(self) -> Any:
        while not self.ended:
            await self._read(10)
        return json.loads(self.body)

    async def disconnect(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(timeout=5)


class HttpEvents:
    """A GET to a real server, its body read line by line as it comes (blocking)."""

    def __init__(self, base_url: str, url: str, headers: dict[str, str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        self.connection.request(
            "GET", url, headers={"Accept": "text/event-stream", **(headers or {})}
        )
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.parser = Parser()
        self._seen = 0

    def next(self, timeout: float = 30) -> Event | None:
        """The next event, or ``None`` at the end of the response."""
        deadline = time.monotonic() + timeout
        while self._seen >= len(self.parser.events):
            assert time.monotonic() < deadline, "no event in time"
            line = self.response.readline()
            if not line:
                return None
            self.parser.feed(line)
        self._seen += 1
        return self.parser.events[self._seen - 1]

    def until_end(self) -> list[Event]:
        events = []
        while (event := self.next()) is not None:
            events.append(event)
        return events

    def close(self) -> None:
        self.connection.close()
