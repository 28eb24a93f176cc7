"""Django Task API: typed background tasks, started over REST and watched live."""

from __future__ import annotations

from .exceptions import (
    Cancelled,
    ConfigurationError,
    OutputError,
    TaskAPIError,
    TaskTimeout,
    UnknownTask,
)
from .tasks import Task

__version__ = "2.0.0"

__all__ = [
    "Cancelled",
    "ConfigurationError",
    "OutputError",
    "Task",
    "TaskAPIError",
    "TaskTimeout",
    "UnknownTask",
]
