"""Django's task framework, wherever it comes from.

``django.tasks`` on Django 6 and later; before, the ``django-tasks`` backport (0.12 or
later), imported as ``django_tasks`` (``pip install django-task-api[django-tasks]``).
Importing this module raises ``ImportError`` when neither is there: class tasks work
without it, ``@task`` functions and ``TaskAPIBackend`` don't. The names are Django 6's (the
backport's ``InvalidTaskError`` is ``InvalidTask`` here); ``PACKAGE`` is the dotted name of
the one in use, for backend paths such as ``f"{PACKAGE}.backends.immediate.ImmediateBackend"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

#: What to install when neither is there.
INSTALL_HINT = (
    "@task functions need Django 6, or on Django 5.2 the django-tasks backport: "
    "pip install django-task-api[django-tasks] (or pip install django-tasks)."
)

if TYPE_CHECKING or django.VERSION >= (6,):
    from django.tasks import (
        TaskContext,
        TaskResult,
        TaskResultStatus,
        default_task_backend,
        signals,
        task,
        task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import (
        InvalidTask,
        InvalidTaskBackend,
        TaskResultDoesNotExist,
        TaskResultMismatch,
    )

    PACKAGE = "django.tasks"
else:
    try:
        from django_tasks import (
            TaskContext,
            TaskResult,
            TaskResultStatus,
            default_task_backend,
            signals,
            task,
            task_backends,
        )
        from django_tasks import checks as _checks  # noqa: F401  (Django 6 loads them too)
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskError
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
    except ImportError as exc:
        raise ImportError(INSTALL_HINT, name=exc.name) from exc
    if not hasattr(TaskResultStatus, "SUCCESSFUL"):  # before 0.12: SUCCEEDED, metadata
        raise ImportError(f"django-tasks 0.12 or later is needed. {INSTALL_HINT}")

    PACKAGE = "django_tasks"

__all__ = [
    "INSTALL_HINT",
    "PACKAGE",
    "BaseTaskBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "default_task_backend",
    "signals",
    "task",
    "task_backends",
]
