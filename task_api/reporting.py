"""The live state of a running task: progress, target, messages, streams, stop flags.

A progress call only stores a number here, and a stream write appends to a queue; the
first change after a flush asks the sink (:mod:`task_api.engine.flusher`) to flush soon:
a task may report millions of times.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, NamedTuple, Protocol

from django.utils import timezone

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.exceptions import Cancelled, StreamLimitExceeded, TaskTimeout


class ReportSink(Protocol):
    """Where a reporter's changes go (the engine's flusher)."""

    def schedule(self, reporter: Reporter) -> None:
        """Flush the reporter's changes soon; must not block."""

    def forget(self, reporter: Reporter) -> None:
        """Stop flushing and polling for the reporter (its task ended)."""


class Written(NamedTuple):
    """Chunks of one stream taken for a flush: ``chunks[0]`` is at position ``start``."""

    stream: str
    start: int
    chunks: list[Any]
    sizes: list[int]  # the bytes of each

    @property
    def size(self) -> int:
        """Their bytes."""
        return sum(self.sizes)


@dataclass(eq=False, repr=False, slots=True)
class Stream:
    """One stream of a running task: what waits for a flush, and what was written."""

    name: str
    length: int = 0  # chunks taken for flushes so far: the next one's position
    size: int = 0  # bytes written, waiting ones included
    pending: deque[tuple[Any, int]] = field(default_factory=deque)  # (chunk, bytes)
    max_chunk: int = 0
    max_size: int = 0

    def take(self) -> Written | None:
        """The waiting chunks, now given positions (thread-safe against writers)."""
        count = len(self.pending)
        if not count:
            return None
        taken = [self.pending.popleft() for _ in range(count)]
        start, self.length = self.length, self.length + count
        return Written(self.name, start, [c for c, _ in taken], [n for _, n in taken])

    def give_back(self, written: Written) -> None:
        """Put taken chunks back in front (their flush failed)."""
        self.length = written.start
        self.pending.extendleft(reversed(list(zip(written.chunks, written.sizes, strict=True))))


@dataclass(eq=False, repr=False, slots=True, weakref_slot=True)
class Reporter:
    """The live state of one running task."""

    uuid: Any
    sink: ReportSink | None
    _: KW_ONLY
    seq: int = 0
    progress: int | None = None
    target: int | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    pending_entries: list[dict[str, Any]] = field(default_factory=list)
    streams: dict[str, Stream] = field(default_factory=dict)
    dirty: bool = False
    cancel_requested: bool = False
    stop_reason: str | None = None
    closed: bool = False
    deadline: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    flushed: tuple[int | None, int | None] = (None, None)
    last_flush: float = 0.0

    @classmethod
    def detached(cls) -> Reporter:
        """A reporter that keeps state in memory only (a task run outside a worker)."""
        return cls(None, None)

    def touch(self) -> None:
        """Note a change: schedule a flush, and stop the task if it must stop."""
        self.check()
        if self.sink is not None and not self.dirty and not self.closed:
            self.dirty = True
            self.sink.schedule(self)

    def check(self) -> None:
        """Raise if the task must stop, without a change to report."""
        if self.cancel_requested:
            raise Cancelled(self.stop_reason or "The task was cancelled.")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout("The task ran past its soft time limit.")

    def stop(self, reason: str) -> None:
        """Stop the task at its next progress call or check, for ``reason`` (not a cancel)."""
        self.stop_reason = reason
        self.cancel_requested = True

    def add_message(self, value: Any, level: str) -> None:
        """Append a message, up to ``TASK_API_MAX_MESSAGES`` per task."""
        limit = task_api_settings.max_messages
        with self.lock:
            count = len(self.entries)
            if count > limit:
                return
            if count == limit:
                value = f"Message limit of {limit} reached; later messages are not kept."
                level = "warning"
            entry = {"value": value, "level": level, "time": now_iso()}
            self.entries.append(entry)
            self.pending_entries.append(entry)
        self.dirty = False  # a message always schedules a flush
        self.touch()

    def write(self, chunk: Any, name: str) -> None:
        """Append ``chunk`` (text, or any JSON value) to the stream ``name``."""
        stream = self.streams.get(name) or self._open(name)
        size = len(chunk.encode()) if type(chunk) is str else _json_size(chunk)
        if size > stream.max_chunk:
            raise StreamLimitExceeded(
                f"A chunk of {size} bytes is over TASK_API_MAX_CHUNK_BYTES ({stream.max_chunk})."
            )
        if stream.size + size > stream.max_size:
            raise StreamLimitExceeded(
                f"Stream {name!r} would pass TASK_API_MAX_STREAM_BYTES ({stream.max_size} bytes)."
            )
        stream.size += size
        stream.pending.append((chunk, size))
        if not self.dirty:
            self.touch()

    def resume_streams(self, lengths: dict[str, int], sizes: dict[str, int]) -> None:
        """Continue the streams of an earlier attempt: positions and bytes go on from there."""
        for name, length in lengths.items():
            stream = self._open(name)
            stream.length, stream.size = length, sizes.get(name, 0)

    def _open(self, name: str) -> Stream:
        try:
            protocol.stream_name(name)
        except ValueError as exc:
            raise StreamLimitExceeded(str(exc)) from None
        limit = task_api_settings.max_streams
        with self.lock:
            if name not in self.streams:
                if len(self.streams) >= limit:
                    raise StreamLimitExceeded(
                        f"A task may write at most {limit} streams (TASK_API_MAX_STREAMS)."
                    )
                self.streams[name] = Stream(
                    name,
                    max_chunk=task_api_settings.max_chunk_bytes,
                    max_size=task_api_settings.max_stream_bytes,
                )
            return self.streams[name]

    def stream_lengths(self) -> dict[str, int]:
        """How many chunks of each stream were taken for flushes."""
        return {name: stream.length for name, stream in self.streams.items()}

    def take_written(self) -> list[Written]:
        """The chunks written since the last flush, per stream, with their positions."""
        return [w for stream in list(self.streams.values()) if (w := stream.take()) is not None]

    def give_back(self, written: list[Written]) -> None:
        """Undo :meth:`take_written` (the flush failed): the chunks wait for the next one."""
        for taken in written:
            self.streams[taken.stream].give_back(taken)

    def take_changes(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What changed since the last flush (call with ``lock`` held), streams apart."""
        self.dirty = False
        changes: dict[str, Any] = {}
        progress, target = self.progress, self.target
        if (progress, target) != self.flushed:
            changes = {"progress": progress, "target": target}
            self.flushed = (progress, target)
        entries, self.pending_entries = self.pending_entries, []
        return changes, entries

    def close(self) -> None:
        """Stop flushing (the runner writes the final state itself)."""
        with self.lock:
            self.closed = True
        if self.sink is not None:
            self.sink.forget(self)


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise StreamLimitExceeded(f"A chunk must be text or a JSON value: {exc}") from None


def now_iso() -> str:
    """The current time as the JSON of messages writes it."""
    return timezone.now().isoformat().replace("+00:00", "Z")
