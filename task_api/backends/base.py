"""The interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cache
from typing import ClassVar

from asgiref.sync import sync_to_async
from django.utils.module_loading import import_string

from ..conf import task_api_settings
from ..exceptions import ConfigurationError, TaskAPIError
from ..models import TaskRecord
from ..tasks import Task


class BackendUnavailable(TaskAPIError):
    """The backend could not accept the task (its broker is down)."""


class BaseBackend(ABC):
    """Runs tasks somewhere else than the request."""

    #: Whether ``time_limit`` is enforced by stopping the task.
    supports_hard_time_limit: ClassVar[bool] = False
    #: Whether a pending task can be withdrawn from the queue.
    supports_revoke: ClassVar[bool] = False

    @property
    def runs_inline(self) -> bool:
        """Whether ``enqueue`` runs the task before it returns (Celery's eager mode)."""
        return False

    @abstractmethod
    def enqueue(self, record: TaskRecord, task_class: type[Task]) -> None:
        """Hand the task over for running; raise ``BackendUnavailable`` if that is impossible."""

    async def aenqueue(self, record: TaskRecord, task_class: type[Task]) -> None:
        """Async ``enqueue``."""
        await sync_to_async(self.enqueue)(record, task_class)

    def revoke(self, record: TaskRecord) -> None:  # noqa: B027 - optional capability
        """Withdraw a pending task from the queue, if the backend can."""

    async def arevoke(self, record: TaskRecord) -> None:
        """Async ``revoke``."""
        await sync_to_async(self.revoke)(record)


@cache
def _load(path: str) -> BaseBackend:
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import TASK_API_BACKEND {path!r}: {exc}") from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise ConfigurationError(f"TASK_API_BACKEND {path!r} is not a BaseBackend subclass.")
    return backend_class()


def get_backend() -> BaseBackend:
    """The configured backend (one instance per dotted path)."""
    return _load(task_api_settings.backend)
