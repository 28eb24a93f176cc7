"""The registered tasks, from ``TASK_API_BACKGROUND_TASKS``: classes and ``@task`` functions.

Only registered tasks can be started from outside (``POST /tasks/``). The registry is read
from the settings on each use (cached per value), so ``override_settings`` works. A bad entry
is logged and left out, so that one broken import does not break every request; the system
checks report it at start (``task_api.E001`` to ``E003``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import import_string

from task_api.conf import task_api_settings
from task_api.exceptions import ConfigurationError, UnknownTask
from task_api.functions import is_django_task, task_class_for
from task_api.tasks import Task

logger = logging.getLogger("task_api.registry")

_cache: tuple[tuple[Any, ...], dict[str, type[Task]]] | None = None


def load_entry(entry: Any) -> type[Task]:
    """Turn one settings entry (dotted path, class or ``@task`` function) into a task class."""
    obj = entry
    if isinstance(entry, str):
        try:
            obj = import_string(entry)
        except ImportError as exc:
            raise ConfigurationError(f"Cannot import task {entry!r}: {exc}") from exc
    if is_django_task(obj):
        return task_class_for(obj)
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise ConfigurationError(
            f"{entry!r} is not a subclass of task_api.tasks.Task, nor a @task function."
        )
    if not isinstance(getattr(obj, "name", None), str) or not obj.name:
        raise ConfigurationError(f"Task class {obj.__qualname__} has no name.")
    return obj


def get_tasks() -> dict[str, type[Task]]:
    """All registered tasks by name; bad entries are logged and left out."""
    global _cache
    entries = tuple(task_api_settings.background_tasks)
    if _cache is not None and _cache[0] == entries:
        return _cache[1]
    tasks: dict[str, type[Task]] = {}
    for entry in entries:
        try:
            cls = load_entry(entry)
        except ConfigurationError as exc:
            logger.error("Task entry left out: %s", exc)
            continue
        other = tasks.setdefault(cls.name, cls)
        if other is not cls:
            where = f"{other.__module__}.{other.__qualname__}"
            logger.error(
                "Task entry %r left out: the name %r is already used by %s.", entry, cls.name, where
            )
    _cache = (entries, tasks)
    return tasks


def get_task(name: str) -> type[Task]:
    """The task class registered under ``name``; only registered classes are ever returned."""
    tasks = get_tasks()
    try:
        return tasks[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(tasks)) or "none"
        raise UnknownTask(f"Unknown task {name!r}; known tasks: {known}.") from None


def get_runnable(name: str) -> type[Task]:
    """The task a worker runs for a record named ``name``: a registered task, or a ``@task``
    function by its module path (the ``django.tasks`` backend may enqueue any)."""
    try:
        return get_task(name)
    except UnknownTask:
        try:
            obj = import_string(name)
        except ImportError:
            obj = None
        if not is_django_task(obj) or obj.module_path != name:
            message = f"{name!r} is neither a registered task nor a @task function."
            raise UnknownTask(message) from None
        return task_class_for(obj)
