"""App configuration."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig


class TaskAPIConfig(AppConfig):
    """Registers the system checks, loads the engine, connects the task doors and, when
    ``TASK_API_METRICS`` is on, starts counting."""

    name = "task_api"
    label = "task_api"
    verbose_name = "Task API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from task_api import (
            checks,  # noqa: F401  (registers the checks)
            functions,
            metrics,
            tasks,
        )
        from task_api.conf import task_api_settings
        from task_api.engine import service
        from task_api.engine.dispatch import get_backend
        from task_api.exceptions import ConfigurationError

        with contextlib.suppress(ConfigurationError):  # reported by the check task_api.E004
            get_backend()  # Celery's tasks are registered when it is the engine

        tasks.use_engine(service)
        if task_api_settings.metrics:
            metrics.install()  # without prometheus-client: a warning, and the check task_api.E009
        if functions.django_tasks_available():
            from task_api.backends import django_tasks

            functions.use_context_factory(django_tasks.context_for)
