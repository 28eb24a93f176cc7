"""Runs tasks in a thread pool of the web process: no broker, for the embedded default.

Time limits are soft only (checked at the task's progress calls); tasks that
were running when the process stopped are failed by the stale-task check.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.db import close_old_connections

from task_api.conf import task_api_settings
from task_api.engine import runner
from task_api.engine.dispatch import BaseBackend
from task_api.models import TaskRecord
from task_api.tasks import Task

logger = logging.getLogger("task_api.backends.inprocess")


class InProcessBackend(BaseBackend):
    """A thread pool in this process; size ``TASK_API_INPROCESS_WORKERS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=task_api_settings.inprocess_workers,
                    thread_name_prefix="task_api-worker",
                )
            return self._executor

    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        self._pool().submit(self._work, record.uuid)

    @staticmethod
    def _work(uuid: Any) -> None:
        retries_done = 0
        try:
            while True:
                outcome = runner.execute(uuid, retries_done=retries_done)
                if outcome.retry_in is None:
                    return
                retries_done += 1
                time.sleep(outcome.retry_in)
        except BaseException:
            logger.exception("Task %s crashed its worker thread", uuid)
        finally:
            close_old_connections()
