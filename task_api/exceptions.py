"""Exceptions of the app.

    TaskAPIError
    ├── ConfigurationError (also ImproperlyConfigured)
    ├── UnknownTask
    ├── OutputError
    ├── Cancelled
    └── TaskTimeout

HTTP errors are DRF ``APIException`` subclasses in :mod:`task_api.api_errors`.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class TaskAPIError(Exception):
    """Root of the app's exceptions."""


class ConfigurationError(TaskAPIError, ImproperlyConfigured):
    """A ``TASK_API_*`` setting is wrong."""


class UnknownTask(TaskAPIError, LookupError):
    """No registered task has that name."""


class OutputError(TaskAPIError, ValueError):
    """A task's ``run`` returned outputs that do not match its ``outputs``."""


class Cancelled(TaskAPIError):
    """Raised inside a running task when its cancellation was requested."""


class TaskTimeout(TaskAPIError):
    """A task ran past its time limit."""
