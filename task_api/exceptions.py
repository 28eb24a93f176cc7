"""Exceptions of the app, under one root.

    TaskAPIException (BaseException)
    ├── TaskAPIError (also Exception): something went wrong
    │   ├── ConfigurationError (also ImproperlyConfigured)
    │   ├── UnknownTask (also LookupError)
    │   ├── InputErrors (also ValueError)
    │   ├── OutputError (also ValueError)
    │   ├── BackendUnavailable
    │   ├── LimitReached
    │   ├── BatchErrors (also ValueError)
    │   ├── BatchTooLarge
    │   ├── NotInBatch
    │   ├── TaskFinished
    │   ├── BatchFinished
    │   ├── StreamLimitExceeded (also ValueError)
    │   └── ShareRefused
    ├── Cancelled: stop now, a cancel was requested
    └── TaskTimeout: stop now, the soft time limit has passed

``Cancelled`` and ``TaskTimeout`` are stop signals, not errors: like ``KeyboardInterrupt``
they derive from ``BaseException`` only, so an ``except Exception:`` in a task body cannot
swallow them. Catch them by name to clean up, then re-raise.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class TaskAPIException(BaseException):
    """Root of every exception of the app."""


class TaskAPIError(TaskAPIException, Exception):
    """Root of the app's errors (catchable with ``except Exception``)."""


class ConfigurationError(TaskAPIError, ImproperlyConfigured):
    """A ``TASK_API_*`` setting is wrong."""


class UnknownTask(TaskAPIError, LookupError):
    """No registered task has that name."""


class InputErrors(TaskAPIError, ValueError):
    """Every problem with a task's inputs, keyed by input name."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class OutputError(TaskAPIError, ValueError):
    """A task returned outputs that do not match its ``outputs``."""


class BackendUnavailable(TaskAPIError):
    """The backend could not accept the task (its broker is down)."""


class LimitReached(TaskAPIError):
    """The owner already has the maximum number of unfinished tasks."""


class BatchErrors(TaskAPIError, ValueError):
    """Every problem with a batch's items: ``{"<index>": {"<field>": [...]}}``."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class BatchTooLarge(TaskAPIError):
    """The batch would hold more than ``TASK_API_MAX_BATCH_SIZE`` tasks."""


class NotInBatch(TaskAPIError):
    """``start_child`` was called by a task that is not part of a batch."""


class TaskFinished(TaskAPIError):
    """A cancel was asked of a task that already reached a terminal state."""


class BatchFinished(TaskAPIError):
    """A cancel was asked of a batch whose tasks all finished."""


class Cancelled(TaskAPIException):
    """Raised inside a running task when its cancellation was requested."""


class TaskTimeout(TaskAPIException):
    """Raised inside a running task that ran past its soft time limit."""


class StreamLimitExceeded(TaskAPIError, ValueError):
    """A stream write would pass a limit (``TASK_API_MAX_CHUNK_BYTES`` and the others)
    or names a stream that cannot exist; raised in the task's own code, nothing is written."""


class ShareRefused(TaskAPIError):
    """A share token that opens nothing: :attr:`code` is ``share_invalid`` (unknown or
    malformed), ``share_expired`` or ``share_revoked``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
