"""App configuration."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig


class TaskAPIConfig(AppConfig):
    """Registers the system checks, loads the engine and connects the task doors."""

    name = "task_api"
    label = "task_api"
    verbose_name = "Task API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from task_api import (
            checks,  # noqa: F401  (registers the checks)
            functions,
            tasks,
        )
        from task_api.engine import service
        from task_api.engine.dispatch import get_backend
        from task_api.exceptions import ConfigurationError

        with contextlib.suppress(ConfigurationError):  # reported by the check task_api.E004
            get_backend()  # Celery's tasks are registered when it is the engine

        tasks.use_engine(service)
        if functions.django_tasks_available():
            from task_api.backends import django_tasks

            functions.use_context_factory(django_tasks.context_for)
