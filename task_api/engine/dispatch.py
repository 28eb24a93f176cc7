"""The engine interface: how a stored task record reaches a worker.

An engine (``TASK_API_BACKEND``) only dispatches records that
:func:`task_api.engine.service.start` created; it never creates them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from functools import cache
from typing import ClassVar, TypeVar

from django.utils.module_loading import import_string

from task_api.conf import task_api_settings
from task_api.exceptions import BackendUnavailable, ConfigurationError
from task_api.models import TaskRecord
from task_api.tasks import Task

T = TypeVar("T")


class BaseBackend(ABC):
    """Runs tasks somewhere else than the request."""

    #: Whether ``dispatch`` honours ``run_after`` (a task that waits until then).
    supports_defer: ClassVar[bool] = False

    @property
    def runs_inline(self) -> bool:
        """Whether ``dispatch`` runs the task before it returns (Celery's eager mode)."""
        return False

    @abstractmethod
    def dispatch(
        self, record: TaskRecord, task_class: type[Task], *, run_after: datetime | None = None
    ) -> None:
        """Hand the task over for running; raise ``BackendUnavailable`` if that is impossible."""

    def revoke(self, record: TaskRecord) -> None:  # noqa: B027 - optional capability
        """Withdraw a pending task from the queue, if the backend can."""

    def check_broker(self, timeout: float) -> bool:
        """Connect to the broker within ``timeout`` seconds, raising if it cannot;
        ``False`` when the backend has none (the readiness check)."""
        return False

    def count_workers(self, timeout: float) -> int | None:
        """How many workers that run these tasks answered within ``timeout`` seconds;
        ``None`` when the backend cannot tell (the readiness check)."""
        return None


@cache
def configured(setting: str, path: str, base: type[T]) -> T:
    """The instance of the ``base`` subclass named by ``setting`` (one per dotted ``path``)."""
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import {setting} {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        a = "an" if base.__name__[0] in "AEIOU" else "a"
        raise ConfigurationError(f"{setting} {path!r} is not {a} {base.__name__} subclass.")
    return cls()


def get_backend() -> BaseBackend:
    """The configured backend (one instance per dotted path)."""
    backend: BaseBackend = configured("TASK_API_BACKEND", task_api_settings.backend, BaseBackend)
    return backend


__all__ = ["BackendUnavailable", "BaseBackend", "get_backend"]
