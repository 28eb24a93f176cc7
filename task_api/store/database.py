"""The database the router picks for writing the task tables: the library's raw SQL,
transactions and ``on_commit`` go there, whatever alias ``DATABASE_ROUTERS`` gives them."""

from __future__ import annotations

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from task_api.models import TaskRecord


def alias() -> str:
    """The alias of the database that holds the task tables."""
    return str(router.db_for_write(TaskRecord))


def connection() -> BaseDatabaseWrapper:
    """This thread's connection to the database of the task tables."""
    return connections[alias()]
