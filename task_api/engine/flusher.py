"""Writing and pushing the progress of running tasks: one flusher thread per process.

The flusher publishes and stores at most one update per task every
``TASK_API_PROGRESS_INTERVAL`` seconds (leading and trailing edge), and polls the
cancel flags and writes the heartbeats of the running tasks.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.utils import timezone

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.engine import batch_notifier, publisher, reconnect, runtime, streaming
from task_api.models import TaskRecord, TaskStatus
from task_api.reporting import Reporter, Written
from task_api.store.progress import store_progress

logger = logging.getLogger("task_api.reporting")

RETRY_DELAY = 1.0  # seconds before a failed flush (the database is away) is tried again


class DatabaseSink:
    """Stores coalesced progress and publishes it; polls cancel flags and heartbeats.

    A progress event goes out as its write starts, not once it is stored: the write (on
    PostgreSQL a commit of a few milliseconds) runs while the event travels. Until it is
    stored, a snapshot is one ``seq`` behind the event, and consumers and clients keep the
    newer state they have (docs/explanations/architecture.md, "Events ahead of the row").
    At most one event is ahead of the row (:data:`~task_api.protocol.AHEAD`): after a
    failed write, the next flush stores all that was published, then publishes. Stream
    chunks are stored before they are published: a reader must find every chunk it saw.
    """

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        self._last_heartbeat = time.monotonic()
        self.published = record.seq  # the last seq its watchers may have
        self.stored = record.seq  # the last seq stored

    def schedule(self, reporter: Reporter) -> None:
        runtime.get(Flusher).schedule(reporter)

    def forget(self, reporter: Reporter) -> None:
        runtime.get(Flusher).forget(reporter)

    @property
    def behind(self) -> bool:
        """Whether an event went out that was never stored (its write failed)."""
        return self.stored < self.published

    def write(
        self,
        reporter: Reporter,
        changes: dict[str, Any],
        entries: list[dict[str, Any]],
        written: list[Written],
    ) -> bool:
        """Publish and store a change; ``False`` when the task is no longer ours. Raises
        when it could not be stored (:attr:`published` then says if it went out)."""
        fields: dict[str, Any] = {"seq": reporter.seq, **changes}
        behind = self.behind  # the reporter's lock is held during a flush
        if entries or behind:
            fields["messages"] = list(reporter.entries)
        if behind:  # the state as published, whatever the lost write held
            fields["progress"], fields["target"] = reporter.flushed
        frame = protocol.update_frame(reporter.uuid, reporter.seq, changes, entries)
        if not written and not behind:
            publisher.publish(reporter.uuid, frame)  # on its way while the row is written
            self.published = reporter.seq
            time.sleep(0)  # let the publisher's thread take the GIL and send it first
        record = self.record
        if written:
            stored = reconnect.once_more(
                lambda: streaming.store(record.pk, record.attempt, fields, written)
            )
        else:
            stored = reconnect.once_more(lambda: store_progress(record.pk, record.attempt, fields))
        if not stored:
            return False
        self.stored = reporter.seq
        if self.published < reporter.seq:
            publisher.publish(reporter.uuid, frame)
            self.published = reporter.seq
        streaming.publish(reporter.uuid, written)
        batch_notifier.changed(record.batch_id)
        return True

    def poll(self, reporters: list[Reporter]) -> None:
        """Refresh the cancel flags and heartbeats of running tasks."""
        rows = TaskRecord.objects.filter(uuid__in=[r.uuid for r in reporters])
        flagged = rows.filter(cancel_requested=True).values_list("uuid", flat=True)
        cancelled = set(reconnect.once_more(lambda: list(flagged)))
        for reporter in reporters:
            if reporter.uuid in cancelled:
                reporter.cancel_requested = True
        now = time.monotonic()
        if now - self._last_heartbeat >= task_api_settings.heartbeat_interval:
            # Noted only once stored: after an outage the next poll beats at once.
            running = rows.filter(status=TaskStatus.RUNNING)
            reconnect.once_more(lambda: running.update(heartbeat=timezone.now()))
            self._last_heartbeat = now


def flush(reporter: Reporter) -> None:
    """Store and publish what changed in ``reporter`` now."""
    sink = reporter.sink
    if not isinstance(sink, DatabaseSink):
        return
    with reporter.lock:
        if reporter.closed:
            return
        flushed = reporter.flushed
        changes, entries = reporter.take_changes()
        written = reporter.take_written() if reporter.streams else []
        if written:
            changes["streams"] = reporter.stream_lengths()
        reporter.last_flush = time.monotonic()
        if not changes and not entries and not sink.behind:
            return
        reporter.seq += 1
        try:
            still_ours = sink.write(reporter, changes, entries, written)
        except Exception as exc:
            if max(sink.published, sink.stored) < reporter.seq:
                # Kept for the next flush: nothing of it was stored or published.
                reporter.seq -= 1
                reporter.flushed = flushed
                reporter.pending_entries[:0] = entries
            # Else its event went out: the next flush stores it, with what follows.
            reporter.give_back(written)
            reporter.dirty = True
            reporter.last_flush = time.monotonic() + RETRY_DELAY
            _log_failure(reporter.uuid, exc)
            runtime.get(Flusher).schedule(reporter)
            return
        if not still_ours:
            reporter.closed = True


def _log_failure(uuid: Any, exc: Exception) -> None:
    what = "poll running tasks" if uuid is None else f"store progress of task {uuid}"
    if isinstance(exc, reconnect.CONNECTION_ERRORS):  # an outage: one line, it is retried
        logger.warning("Could not %s: %s", what, exc)
    else:
        logger.error("Could not %s", what, exc_info=exc)


class Flusher(runtime.Worker):
    """One daemon thread per process that flushes reporters and polls cancel flags."""

    stop_order = 2
    thread_name = "task_api-flusher"

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[Reporter, None] = {}
        self._active: dict[Reporter, None] = {}

    def register(self, reporter: Reporter) -> None:
        """Watch a running task's cancel flag and heartbeat."""
        with self._lock:
            self._active[reporter] = None
        self.start()

    def schedule(self, reporter: Reporter) -> None:
        with self._lock:
            self._pending[reporter] = None
        self.start()
        self._wakeup.set()

    def forget(self, reporter: Reporter) -> None:
        with self._lock:
            self._pending.pop(reporter, None)
            self._active.pop(reporter, None)

    def stop_tasks(self, reason: str) -> None:
        """Ask every running task of this process to stop, for ``reason``."""
        with self._lock:
            active = list(self._active)
        for reporter in active:
            reporter.stop(reason)

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stopped:
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
            due = [r for r in self._pending if r.last_flush + interval <= now]
            for reporter in due:
                del self._pending[reporter]
            waits = [r.last_flush + interval - now for r in self._pending]
            active = list(self._active)
        for reporter in due:
            flush(reporter)
        if active and now >= next_poll:
            next_poll = now + task_api_settings.cancel_check_interval
            self._poll(active)
        timeout = min([*waits, max(next_poll - now, 0.0)] if active else [*waits, 1.0])
        self._wakeup.wait(max(timeout, 0.001))
        self._wakeup.clear()
        return next_poll

    @staticmethod
    def _poll(active: list[Reporter]) -> None:
        sinks: dict[int, tuple[DatabaseSink, list[Reporter]]] = {}
        for reporter in active:
            if isinstance(reporter.sink, DatabaseSink):
                sinks.setdefault(id(reporter.sink), (reporter.sink, []))[1].append(reporter)
        for sink, reporters in sinks.values():
            try:
                sink.poll(reporters)
            except Exception as exc:
                _log_failure(None, exc)


def register(reporter: Reporter) -> None:
    """Have the flusher poll a running task's cancel flag and heartbeat."""
    runtime.get(Flusher).register(reporter)
