"""A new task's ``INSERT`` as one prepared statement, with the per-user limit folded in.

``objects.create()`` compiles its ``INSERT`` anew on every call. Here the
statement is built once per database and shape, each value is prepared by its
field as the ORM prepares it (``pre_save``, ``get_db_prep_save``), and with a
limit the count of :mod:`task_api.counting` becomes the statement's condition::

    INSERT INTO task_api_taskrecord (...) SELECT %s, ... WHERE (SELECT COUNT(*) ...) < %s
    RETURNING id

so the limit check and the insert take one round trip. Only on PostgreSQL and
SQLite, and only while nothing listens to the model's save signals:
:func:`can_insert` says when the caller must use the ORM instead.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, Field, TextField
from django.db.models.signals import post_save, pre_save

from task_api.models import TaskRecord
from task_api.store.counting import count_params, counted_rows

_VENDORS = frozenset({"postgresql", "sqlite"})
_statements: dict[tuple[str, bool, bool, bool], str] = {}


def _fields() -> list[Field[Any, Any]]:
    return [field for field in TaskRecord._meta.local_concrete_fields if not field.primary_key]


def can_insert(alias: str) -> bool:
    """Whether :func:`insert_record` may write a record to the database ``alias``."""
    db = connections[alias]
    return (
        db.vendor in _VENDORS
        and db.features.can_return_columns_from_insert
        and not pre_save.has_listeners(TaskRecord)
        and not post_save.has_listeners(TaskRecord)
    )


def _placeholder(field: Field[Any, Any], db: BaseDatabaseWrapper) -> str:
    # PostgreSQL types the values of INSERT ... SELECT as text unless told.
    if db.vendor != "postgresql" or isinstance(field, CharField | TextField):
        return "%s"
    return f"CAST(%s AS {field.cast_db_type(db)})"


def _statement(db: BaseDatabaseWrapper, counted: bool, with_owner: bool, with_session: bool) -> str:
    key = (db.alias, counted, with_owner, with_session)
    sql = _statements.get(key)
    if sql is None:
        q = db.ops.quote_name
        meta = TaskRecord._meta
        fields = _fields()
        columns = ", ".join(q(str(field.column)) for field in fields)
        values = ", ".join(_placeholder(field, db) for field in fields)
        condition = f" WHERE ({counted_rows(db, with_owner, with_session)}) < %s" if counted else ""
        sql = _statements[key] = (
            f"INSERT INTO {q(meta.db_table)} ({columns}) SELECT {values}{condition} "
            f"RETURNING {q(str(meta.pk.column))}"
        )
    return sql


def insert_record(
    record: TaskRecord, alias: str, *, limit: int | None, owner: dict[str, Any]
) -> bool:
    """Insert the unsaved ``record``; ``False`` if ``owner`` already has ``limit`` unfinished tasks.

    ``limit=None`` inserts without counting.
    """
    db = connections[alias]
    values = [field.get_db_prep_save(field.pre_save(record, True), db) for field in _fields()]
    if limit is None:
        sql = _statement(db, False, False, False)
    else:
        with_owner, with_session, params = count_params(owner, limit)
        sql = _statement(db, True, with_owner, with_session)
        values += [*params, limit]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    record.pk = row[0]
    record._state.adding = False
    record._state.db = alias
    return True


__all__ = ["can_insert", "insert_record"]
