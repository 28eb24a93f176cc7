"""The registered task classes, from ``TASK_API_BACKGROUND_TASKS``.

The registry is built from the settings on each use (cached per settings
value), so ``override_settings`` works; a bad entry raises
``ConfigurationError`` here and is reported by the system checks at start.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from .conf import task_api_settings
from .exceptions import ConfigurationError, UnknownTask
from .tasks import Task

_cache: tuple[tuple[Any, ...], dict[str, type[Task]]] | None = None


def load_entry(entry: Any) -> type[Task]:
    """Turn one settings entry (dotted path or class) into a ``Task`` subclass."""
    if isinstance(entry, str):
        try:
            obj = import_string(entry)
        except ImportError as exc:
            raise ConfigurationError(f"Cannot import task {entry!r}: {exc}") from exc
    else:
        obj = entry
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise ConfigurationError(f"{entry!r} is not a subclass of task_api.tasks.Task.")
    if not isinstance(getattr(obj, "name", None), str) or not obj.name:
        raise ConfigurationError(f"Task class {obj.__qualname__} has no name.")
    return obj


def get_tasks() -> dict[str, type[Task]]:
    """All registered tasks by name."""
    global _cache
    entries = tuple(task_api_settings.background_tasks)
    if _cache is not None and _cache[0] == entries:
        return _cache[1]
    tasks: dict[str, type[Task]] = {}
    for entry in entries:
        cls = load_entry(entry)
        if cls.name in tasks and tasks[cls.name] is not cls:
            raise ConfigurationError(f"Two task classes are named {cls.name!r}.")
        tasks[cls.name] = cls
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
