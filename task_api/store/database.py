"""The database of the task tables: the one the router picks for writing them.

Raw SQL, transactions and ``on_commit`` of the library go through
:func:`connection`, so a project that keeps the task tables on another
database alias (``DATABASE_ROUTERS``) has every query there.
"""

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
