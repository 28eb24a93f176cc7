"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class TaskAPIConfig(AppConfig):
    """Registers the system checks and the Celery task."""

    name = "task_api"
    label = "task_api"
    verbose_name = "Task API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the checks)
            retention,  # noqa: F401  (registers the periodic Celery task)
        )
        from .backends import celery  # noqa: F401  (registers the Celery tasks)
