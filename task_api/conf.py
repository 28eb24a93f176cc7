"""Typed, lazily read settings of the app.

Every property reads ``django.conf.settings`` at call time, so
``override_settings`` works and nothing is read at import.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class TaskAPISettings:
    """The ``TASK_API_*`` settings with their defaults."""

    @property
    def background_tasks(self) -> list[Any]:
        """Task classes or dotted paths: ``TASK_API_BACKGROUND_TASKS`` then ``..._CLASSES``."""
        return [
            *_get("TASK_API_BACKGROUND_TASKS", []),
            *_get("TASK_API_BACKGROUND_CLASSES", []),
        ]

    @property
    def backend(self) -> str:
        """Dotted path of the backend class."""
        return str(_get("TASK_API_BACKEND", "task_api.backends.celery.CeleryBackend"))

    @property
    def authentication_classes(self) -> list[Any] | None:
        """DRF authentication classes; ``None`` means DRF's global default."""
        value: list[Any] | None = _get("TASK_API_AUTHENTICATION_CLASSES", None)
        return value

    @property
    def permission_classes(self) -> list[Any] | None:
        """DRF permission classes; ``None`` means DRF's global default."""
        value: list[Any] | None = _get(
            "TASK_API_PERMISSIONS_CLASSES", _get("TASK_API_PERMISSION_CLASSES", None)
        )
        return value

    @property
    def access_policy(self) -> str:
        """Dotted path of the access policy: who may see, watch and cancel."""
        return str(_get("TASK_API_ACCESS_POLICY", "task_api.engine.policy.OwnerOrStaff"))

    @property
    def page_size(self) -> int:
        """Tasks per page of ``GET /tasks/``."""
        return int(_get("TASK_API_PAGE_SIZE", 50))

    @property
    def progress_interval(self) -> float:
        """Seconds between two coalesced progress flushes of one task."""
        return float(_get("TASK_API_PROGRESS_INTERVAL", 0.1))

    @property
    def cancel_check_interval(self) -> float:
        """Seconds between two reads of a running task's cancel flag."""
        return float(_get("TASK_API_CANCEL_CHECK_INTERVAL", 0.5))

    @property
    def resync_interval(self) -> float:
        """Seconds between two checks by the WebSocket consumer of its watched tasks."""
        return float(_get("TASK_API_RESYNC_INTERVAL", 3.0))

    @property
    def channel_layer_alias(self) -> str:
        """The channel layer that carries task events."""
        return str(_get("TASK_API_CHANNEL_LAYER", "default"))

    @property
    def max_messages(self) -> int:
        """Messages kept per task; older ones are dropped first."""
        return int(_get("TASK_API_MAX_MESSAGES", 1000))

    @property
    def max_subscriptions(self) -> int:
        """Tasks and batches one WebSocket connection may watch at once."""
        return int(_get("TASK_API_MAX_SUBSCRIPTIONS", 100))

    @property
    def max_frame_bytes(self) -> int:
        """Largest WebSocket frame accepted from a client."""
        return int(_get("TASK_API_MAX_FRAME_BYTES", 4096))

    @property
    def max_request_bytes(self) -> int:
        """Largest ``POST /tasks/`` body accepted."""
        return int(_get("TASK_API_MAX_REQUEST_BYTES", 1_000_000))

    @property
    def max_running_per_user(self) -> int | None:
        """Unfinished tasks one user may have at once; ``None`` for no limit."""
        value = _get("TASK_API_MAX_RUNNING_PER_USER", 100)
        return None if value is None else int(value)

    @property
    def time_limit(self) -> float | None:
        """Default hard time limit of a task in seconds."""
        value = _get("TASK_API_TIME_LIMIT", None)
        return None if value is None else float(value)

    @property
    def soft_time_limit(self) -> float | None:
        """Default soft time limit of a task in seconds."""
        value = _get("TASK_API_SOFT_TIME_LIMIT", None)
        return None if value is None else float(value)

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between two heartbeats of a running task."""
        return float(_get("TASK_API_HEARTBEAT_INTERVAL", 5.0))

    @property
    def stale_after(self) -> float:
        """Seconds without a heartbeat after which a running task counts as lost."""
        return float(_get("TASK_API_STALE_AFTER", 60.0))

    @property
    def db_retry_for(self) -> float:
        """Seconds a worker keeps retrying a task's final write while the database is away."""
        return float(_get("TASK_API_DB_RETRY_FOR", 300.0))

    @property
    def idempotency_window(self) -> float:
        """Seconds during which a repeated ``Idempotency-Key`` returns the same task."""
        return float(_get("TASK_API_IDEMPOTENCY_WINDOW", 600.0))

    @property
    def retention(self) -> float:
        """Seconds a finished task is kept before ``purge_tasks`` removes it."""
        return float(_get("TASK_API_RETENTION", 7 * 24 * 3600.0))

    @property
    def inprocess_workers(self) -> int:
        """Threads of the in-process backend."""
        return int(_get("TASK_API_INPROCESS_WORKERS", 4))

    @property
    def celery_queue(self) -> str | None:
        """Celery queue the tasks are sent to; ``None`` for Celery's default."""
        value = _get("TASK_API_CELERY_QUEUE", None)
        return None if value is None else str(value)

    @property
    def max_batch_size(self) -> int:
        """Tasks one batch may hold."""
        return int(_get("TASK_API_MAX_BATCH_SIZE", 1000))

    @property
    def batch_interval(self) -> float:
        """Seconds between two aggregate updates of one batch."""
        return float(_get("TASK_API_BATCH_INTERVAL", 0.25))


task_api_settings = TaskAPISettings()
