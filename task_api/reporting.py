"""The live state of a running task: progress, target, messages, stop flags.

A progress call only stores a number here and, the first time after a flush, asks
the sink (:mod:`task_api.engine.flusher`) to flush soon: a task may report millions
of times.
"""

from __future__ import annotations

import threading
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

from django.utils import timezone

from task_api.conf import task_api_settings
from task_api.exceptions import Cancelled, TaskTimeout


class ReportSink(Protocol):
    """Where a reporter's changes go (the engine's flusher)."""

    def schedule(self, reporter: Reporter) -> None:
        """Flush the reporter's changes soon; must not block."""

    def forget(self, reporter: Reporter) -> None:
        """Stop flushing and polling for the reporter (its task ended)."""


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

    def take_changes(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What changed since the last flush (call with ``lock`` held)."""
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


def now_iso() -> str:
    """The current time as the JSON of messages writes it."""
    return timezone.now().isoformat().replace("+00:00", "Z")
