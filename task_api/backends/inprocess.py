"""Runs tasks in threads of the web process: no broker, for the embedded default.

Time limits are soft only (checked at the task's progress calls). When the process
stops, running tasks are asked to stop at their next progress call or check, and
those not ended ``STOP_GRACE`` seconds later (or queued) fail with ``SERVER_STOPPED``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from django.db import close_old_connections

from task_api.conf import task_api_settings
from task_api.engine import flusher, lifecycle, runner, runtime
from task_api.engine.dispatch import BackendUnavailable, BaseBackend
from task_api.models import TaskRecord, TaskStatus
from task_api.tasks import Task

logger = logging.getLogger("task_api.backends.inprocess")

SERVER_STOPPED = "The server stopped before the task finished."
STOP_GRACE = 0.5  # seconds running tasks get to stop at a progress call before they fail


class InProcessBackend(BaseBackend):
    """Threads of this process, up to ``TASK_API_INPROCESS_WORKERS``."""

    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        runtime.get(TaskPool).submit(record.uuid)

    def count_workers(self, timeout: float) -> int:
        """The threads of this process that run tasks."""
        return task_api_settings.inprocess_workers


class TaskPool:
    """The backend's threads, all started with the first task."""

    stop_order = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = 0
        self._unfinished: dict[Any, None] = {}  # queued, running or waiting for a retry
        self._busy = 0
        self._stopping = threading.Event()

    def submit(self, uuid: Any) -> None:
        with self._lock:
            if self._stopping.is_set():
                raise BackendUnavailable("The server is stopping.")
            for number in range(self._threads, task_api_settings.inprocess_workers):
                thread = runtime.start_thread(f"task_api-worker-{number}", self._serve)
                self._threads += thread is not None
            self._unfinished[uuid] = None
        self._queue.put(uuid)

    def _serve(self) -> None:
        while uuid := self._queue.get():
            if self._stopping.is_set():
                continue  # the stop fails it
            with self._lock:
                self._busy += 1
            self._run(uuid)
            with self._lock:
                self._busy -= 1
                if not self._stopping.is_set():  # else the stop checks how it ended
                    self._unfinished.pop(uuid, None)

    def _run(self, uuid: Any) -> None:
        """Run a task and its retries; nothing it raises ends the thread."""
        try:
            for retries_done in itertools.count():
                outcome = runner.execute(uuid, retries_done=retries_done)
                if outcome.retry_in is None or self._stopping.wait(outcome.retry_in):
                    return
        except BaseException:
            logger.exception("Task %s crashed its worker thread", uuid)
        finally:
            with contextlib.suppress(Exception):
                close_old_connections()

    def stop(self) -> None:
        """Ask the running tasks to stop; fail what has not ended after ``STOP_GRACE``."""
        self._stopping.set()
        runtime.get(flusher.Flusher).stop_tasks(SERVER_STOPPED)
        deadline = time.monotonic() + STOP_GRACE
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            left = list(self._unfinished)
        statuses = (TaskStatus.PENDING, TaskStatus.RUNNING)
        try:
            for record in TaskRecord.objects.filter(uuid__in=left, status__in=statuses):
                logger.warning("Task %s stopped with the server", record.uuid)
                lifecycle.fail(record, "WorkerLost", SERVER_STOPPED, from_statuses=statuses)
        except Exception:
            logger.exception("Could not fail the tasks stopped with the server")
