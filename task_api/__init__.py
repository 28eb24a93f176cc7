"""Django Task API: typed background tasks, started over REST and watched live.

Class tasks subclass :class:`Task`; Django's ``@task`` functions run on the same engine through
``task_api.backends.django_tasks.TaskAPIBackend`` and report with :mod:`task_api.progress`.
"""

from __future__ import annotations

from task_api import progress
from task_api.exceptions import (
    BackendUnavailable,
    BatchErrors,
    BatchFinished,
    BatchTooLarge,
    Cancelled,
    ConfigurationError,
    InputErrors,
    LimitReached,
    NotInBatch,
    OutputError,
    ShareRefused,
    StreamLimitExceeded,
    TaskAPIError,
    TaskAPIException,
    TaskFinished,
    TaskTimeout,
    UnknownTask,
)
from task_api.owners import enqueued_by
from task_api.tasks import Task

__version__ = "2.0.0"

__all__ = [
    "BackendUnavailable",
    "BatchErrors",
    "BatchFinished",
    "BatchTooLarge",
    "Cancelled",
    "ConfigurationError",
    "InputErrors",
    "LimitReached",
    "NotInBatch",
    "OutputError",
    "ShareRefused",
    "StreamLimitExceeded",
    "Task",
    "TaskAPIError",
    "TaskAPIException",
    "TaskFinished",
    "TaskTimeout",
    "UnknownTask",
    "enqueued_by",
    "progress",
]
