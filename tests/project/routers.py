"""A router that keeps the task tables on the ``tasks`` database (the multi-database test)."""

from __future__ import annotations

from typing import Any

TASKS_DB = "tasks"


class TaskTablesElsewhere:
    """Reads and writes of task_api's models go to ``tasks``; everything else to ``default``."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return TASKS_DB if model._meta.app_label == "task_api" else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return TASKS_DB if model._meta.app_label == "task_api" else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # a task's owner is a user of the default database
