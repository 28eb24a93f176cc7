"""Progress and messages of a running task, coalesced.

``Task.set_progress`` only stores a number and, the first time after a flush,
wakes one flusher thread per process. The flusher sends at most one update per
task every ``TASK_API_PROGRESS_INTERVAL`` seconds (leading and trailing edge),
so a task may call ``set_progress`` millions of times and watchers still see
the current value within one interval. The final values are written exactly
by the runner when the task ends.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Protocol

from django.utils import timezone

from .conf import task_api_settings
from .exceptions import Cancelled, TaskTimeout
from .reconnect import CONNECTION_ERRORS

logger = logging.getLogger("task_api.reporting")

#: Seconds before a flush that failed (the database is away) is tried again.
RETRY_DELAY = 1.0


class ReportSink(Protocol):
    """Where a reporter's flushes go (the database and the channel layer)."""

    def flush(
        self, reporter: Reporter, changes: dict[str, Any], entries: list[dict[str, Any]]
    ) -> bool:
        """Store and publish a change; ``False`` when the task is no longer ours."""

    def poll(self, reporters: list[Reporter]) -> None:
        """Refresh the cancel flags and heartbeats of running tasks."""


class Reporter:
    """The live state of one running task."""

    __slots__ = (
        "__weakref__",
        "_flushed",
        "_last_flush",
        "cancel_requested",
        "closed",
        "deadline",
        "dirty",
        "entries",
        "lock",
        "pending_entries",
        "progress",
        "seq",
        "sink",
        "target",
        "uuid",
    )

    def __init__(self, uuid: Any, sink: ReportSink | None, *, seq: int = 0) -> None:
        self.uuid = uuid
        self.sink = sink
        self.seq = seq
        self.progress: int | None = None
        self.target: int | None = None
        self.entries: list[dict[str, Any]] = []
        self.pending_entries: list[dict[str, Any]] = []
        self.dirty = False
        self.cancel_requested = False
        self.closed = False
        self.deadline: float | None = None
        self.lock = threading.Lock()
        self._flushed: tuple[int | None, int | None] = (None, None)
        self._last_flush = 0.0

    @classmethod
    def detached(cls) -> Reporter:
        """A reporter that keeps state in memory only (a task run outside a worker)."""
        return cls(None, None)

    def touch(self) -> None:
        """Note a change: schedule a flush, and stop the task if it must stop."""
        if self.cancel_requested:
            raise Cancelled("The task was cancelled.")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout("The task ran past its soft time limit.")
        if self.sink is not None and not self.dirty and not self.closed:
            self.dirty = True
            _flusher.schedule(self)

    def check(self) -> None:
        """Raise if the task must stop, without a change to report."""
        if self.cancel_requested:
            raise Cancelled("The task was cancelled.")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout("The task ran past its soft time limit.")

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
            entry = {"value": value, "level": level, "time": _now_iso()}
            self.entries.append(entry)
            self.pending_entries.append(entry)
        self.dirty = False  # a message always schedules a flush
        self.touch()

    def take_changes(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What changed since the last flush (call with ``lock`` held)."""
        self.dirty = False
        changes: dict[str, Any] = {}
        progress, target = self.progress, self.target
        if (progress, target) != self._flushed:
            changes = {"progress": progress, "target": target}
            self._flushed = (progress, target)
        entries, self.pending_entries = self.pending_entries, []
        return changes, entries

    def flush(self) -> None:
        """Send what changed to the sink now."""
        if self.sink is None:
            return
        with self.lock:
            if self.closed:
                return
            flushed = self._flushed
            changes, entries = self.take_changes()
            self._last_flush = time.monotonic()
            if not changes and not entries:
                return
            self.seq += 1
            try:
                still_ours = self.sink.flush(self, changes, entries)
            except Exception as exc:
                # Kept for the next flush: nothing of it was stored or published.
                self.seq -= 1
                self._flushed = flushed
                self.pending_entries[:0] = entries
                self.dirty = True
                self._last_flush = time.monotonic() + RETRY_DELAY
                _log_failure(self.uuid, exc)
                _flusher.schedule(self)
                return
            if not still_ours:
                self.closed = True

    def close(self) -> None:
        """Stop flushing (the runner writes the final state itself)."""
        with self.lock:
            self.closed = True
        _flusher.forget(self)


def _log_failure(uuid: Any, exc: Exception) -> None:
    what = "poll running tasks" if uuid is None else f"store progress of task {uuid}"
    if isinstance(exc, CONNECTION_ERRORS):  # an outage: one line, it is retried
        logger.warning("Could not %s: %s", what, exc)
    else:
        logger.error("Could not %s", what, exc_info=exc)


def _now_iso() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


class _Flusher:
    """One daemon thread per process that flushes reporters and polls cancel flags."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._pending: dict[Reporter, None] = {}
        self._active: dict[Reporter, None] = {}
        self._thread: threading.Thread | None = None

    def register(self, reporter: Reporter) -> None:
        """Watch a running task's cancel flag and heartbeat."""
        with self._lock:
            self._active[reporter] = None
        self._ensure_thread()

    def schedule(self, reporter: Reporter) -> None:
        with self._lock:
            self._pending[reporter] = None
        self._ensure_thread()
        self._wakeup.set()

    def forget(self, reporter: Reporter) -> None:
        with self._lock:
            self._pending.pop(reporter, None)
            self._active.pop(reporter, None)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name="task_api-flusher", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        next_poll = 0.0
        while True:
            try:
                next_poll = self._step(next_poll)
            except Exception:  # the one thread that flushes every task must not die
                logger.exception("The progress flusher failed; it carries on")
                time.sleep(1.0)

    def _step(self, next_poll: float) -> float:
        """Flush what is due, poll if it is time, then wait; returns the next poll time."""
        interval = task_api_settings.progress_interval
        now = time.monotonic()
        with self._lock:
            due = [r for r in self._pending if r._last_flush + interval <= now]
            for reporter in due:
                del self._pending[reporter]
            waits = [r._last_flush + interval - now for r in self._pending]
            active = list(self._active)
        for reporter in due:
            reporter.flush()
        if active and now >= next_poll:
            next_poll = now + task_api_settings.cancel_check_interval
            self._poll(active)
        timeout = min([*waits, max(next_poll - now, 0.0)] if active else [*waits, 1.0])
        self._wakeup.wait(max(timeout, 0.001))
        self._wakeup.clear()
        return next_poll

    @staticmethod
    def _poll(active: list[Reporter]) -> None:
        sinks: dict[int, tuple[ReportSink, list[Reporter]]] = {}
        for reporter in active:
            if reporter.sink is not None:
                sinks.setdefault(id(reporter.sink), (reporter.sink, []))[1].append(reporter)
        for sink, reporters in sinks.values():
            try:
                sink.poll(reporters)
            except Exception as exc:
                _log_failure(None, exc)


_flusher = _Flusher()


def register(reporter: Reporter) -> None:
    """Have the flusher poll a running task's cancel flag and heartbeat."""
    _flusher.register(reporter)


def _reset_after_fork() -> None:
    global _flusher
    _flusher = _Flusher()


os.register_at_fork(after_in_child=_reset_after_fork)

__all__ = ["ReportSink", "Reporter", "register"]
