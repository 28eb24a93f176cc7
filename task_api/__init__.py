"""Django Task API: typed background tasks, started over REST and watched live.

Class tasks subclass :class:`Task`; Django's ``@task`` functions run on the
same engine through ``task_api.backends.django_tasks.TaskAPIBackend`` and
report with :mod:`task_api.progress`.
"""

from __future__ import annotations

from . import progress
from .exceptions import (
    BackendUnavailable,
    Cancelled,
    ConfigurationError,
    InputErrors,
    LimitReached,
    OutputError,
    TaskAPIError,
    TaskAPIException,
    TaskTimeout,
    UnknownTask,
)
from .owners import enqueued_by
from .tasks import Task

__version__ = "2.0.0"

__all__ = [
    "BackendUnavailable",
    "Cancelled",
    "ConfigurationError",
    "InputErrors",
    "LimitReached",
    "OutputError",
    "Task",
    "TaskAPIError",
    "TaskAPIException",
    "TaskTimeout",
    "UnknownTask",
    "enqueued_by",
    "progress",
]
