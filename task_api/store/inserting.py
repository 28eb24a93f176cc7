"""New tasks' ``INSERT`` as one prepared statement, with the owner's limit folded in::

    INSERT INTO task_api_taskrecord (...) SELECT * FROM (VALUES (%s, ...), ...) AS new_tasks
    WHERE (SELECT COUNT(*) FROM (SELECT 1 ... LIMIT %s) AS counted) < %s RETURNING id

Its parts are built once per database (``objects.create()`` compiles anew on every call),
each value prepared by its field as the ORM does. Count and insert take one round trip with
no gap between them, and all rows are inserted or none (a batch too large for one statement:
several, in one transaction, the first counting). Only on PostgreSQL and SQLite while nothing
listens to the model's save signals (:func:`can_insert`); else the ORM counts and saves.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, Field, TextField
from django.db.models.signals import post_save, pre_save

from task_api.models import UNFINISHED_STATUSES, TaskRecord
from task_api.store import database

_VENDORS = frozenset({"postgresql", "sqlite"})
_heads: dict[str, tuple[str, str, str, str]] = {}
_counts: dict[tuple[str, bool, bool], str] = {}


def _fields() -> list[Field[Any, Any]]:
    return [field for field in TaskRecord._meta.local_concrete_fields if not field.primary_key]


def can_insert(alias: str) -> bool:
    """Whether the prepared statement may write records to the database ``alias``."""
    db = connections[alias]
    return (
        db.vendor in _VENDORS
        and db.features.can_return_columns_from_insert
        and not pre_save.has_listeners(TaskRecord)
        and not post_save.has_listeners(TaskRecord)
    )


def insert(records: Sequence[TaskRecord], *, owner: Mapping[str, Any], limit: int | None) -> bool:
    """Save the unsaved ``records``; ``False``, and none saved, if ``owner`` would then have
    more than ``limit`` unfinished tasks (``None``: no limit)."""
    alias = database.alias()
    if can_insert(alias):
        return _insert_prepared(records, alias, owner, limit)
    with transaction.atomic(using=alias):
        if limit is not None and count_unfinished(owner, limit) + len(records) > limit:
            return False
        for record in records:
            record.save(force_insert=True, using=alias)
    return True


def insert_record(
    record: TaskRecord, alias: str, *, limit: int | None, owner: Mapping[str, Any]
) -> bool:
    """Insert one unsaved ``record`` by the prepared statement; see :func:`insert`."""
    return _insert_prepared([record], alias, owner, limit)


def _insert_prepared(
    records: Sequence[TaskRecord], alias: str, owner: Mapping[str, Any], limit: int | None
) -> bool:
    db = connections[alias]
    per_statement = len(records)
    if per_statement > 1 and db.vendor != "postgresql":  # PostgreSQL takes arrays: 1 per column
        per_statement = max(1, ((db.features.max_query_params or 65535) - 8) // len(_fields()))
    chunks = [records[at : at + per_statement] for at in range(0, len(records), per_statement)]
    with transaction.atomic(using=alias) if len(chunks) > 1 else contextlib.nullcontext():
        for index, chunk in enumerate(chunks):
            if not _execute(db, chunk, owner, None if index else limit, len(records)):
                return False
    return True


def _execute(
    db: BaseDatabaseWrapper,
    records: Sequence[TaskRecord],
    owner: Mapping[str, Any],
    limit: int | None,
    total: int,
) -> bool:
    """One ``INSERT`` of ``records``, if the owner's ``total`` new tasks fit under ``limit``."""
    head, row, unnest, returning = _parts(db)
    rows = [
        [field.get_db_prep_save(field.pre_save(record, True), db) for field in _fields()]
        for record in records
    ]
    if len(rows) == 1:
        sql, values = f"{head}SELECT {row}", rows[0]
    elif unnest:
        sql, values = head + unnest, [list(column) for column in zip(*rows, strict=True)]
    else:
        sql = f"{head}SELECT * FROM (VALUES {', '.join([f'({row})'] * len(rows))}) AS new_tasks"
        values = [value for values in rows for value in values]
    if limit is not None:
        with_owner, with_session, params = count_params(owner, limit)
        sql += f" WHERE ({counted_rows(db, with_owner, with_session)}) < %s"
        values += [*params, limit - total + 1]
    with db.cursor() as cursor:
        cursor.execute(sql + returning, values)
        returned = cursor.fetchall()
    if not returned:
        return False
    for record, (pk,) in zip(records, returned, strict=True):
        record.pk = pk
        record._state.adding = False
        record._state.db = db.alias
    return True


def _placeholder(field: Field[Any, Any], db: BaseDatabaseWrapper) -> str:
    # PostgreSQL types the values of INSERT ... SELECT as text unless told.
    if db.vendor != "postgresql" or isinstance(field, CharField | TextField):
        return "%s"
    return f"CAST(%s AS {field.cast_db_type(db)})"


def _parts(db: BaseDatabaseWrapper) -> tuple[str, str, str, str]:
    """The statement's head, a row of placeholders, PostgreSQL's rows from one array per
    column (as Django's ``bulk_create`` sends them), and the ``RETURNING`` clause."""
    parts = _heads.get(db.alias)
    if parts is None:
        q = db.ops.quote_name
        meta = TaskRecord._meta
        fields = _fields()
        arrays = ", ".join(f"(%s)::{str(field.db_type(db)).split('(')[0]}[]" for field in fields)
        parts = _heads[db.alias] = (
            f"INSERT INTO {q(meta.db_table)} ({', '.join(q(str(f.column)) for f in fields)}) ",
            ", ".join(_placeholder(field, db) for field in fields),
            f"SELECT * FROM UNNEST({arrays}) AS new_tasks" if db.vendor == "postgresql" else "",
            f" RETURNING {q(str(meta.pk.column))}",
        )
    return parts


def counted_rows(db: BaseDatabaseWrapper, with_owner: bool, with_session: bool) -> str:
    """``SELECT COUNT(*)`` of the owner's unfinished rows, up to a limit; see ``count_params``."""
    key = (db.vendor, with_owner, with_session)
    sql = _counts.get(key)
    if sql is None:
        meta = TaskRecord._meta
        q = db.ops.quote_name

        def column(name: str) -> str:
            field = meta.get_field(name)
            return q(str(getattr(field, "column", name)))

        owner = column("owner")
        where = f"{owner} = %s" if with_owner else f"{owner} IS NULL"
        if with_session:
            where += f" AND {column('session_key')} = %s"
        sql = _counts[key] = (
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {q(meta.db_table)} WHERE {where} "
            f"AND {column('status')} IN (%s, %s) LIMIT %s) AS counted"
        )
    return sql


def count_params(owner: Mapping[str, Any], limit: int) -> tuple[bool, bool, list[Any]]:
    """Whether the count filters on a user and on a session, and its parameters."""
    user = owner.get("owner")
    params: list[Any] = [] if user is None else [getattr(user, "pk", user)]
    if "session_key" in owner:
        params.append(owner["session_key"])
    params += [str(status) for status in UNFINISHED_STATUSES]
    params.append(limit)
    return user is not None, "session_key" in owner, params


def count_unfinished(owner: Mapping[str, Any], limit: int) -> int:
    """Unfinished tasks of ``owner`` (``owner``/``session_key`` filter values), up to ``limit``."""
    return TaskRecord.objects.filter(**owner).unfinished()[:limit].count()


UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def _why(text: str) -> str:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which cannot be stored"
    return "is not valid Unicode (lone surrogate)"


def unstorable(data: Any) -> dict[str, Any]:
    """Every field of a JSON value whose name or value holds text no database stores (a lone
    surrogate, or NUL, which PostgreSQL refuses), as DRF nests field errors."""
    problems: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and UNSTORABLE.search(value):
            problems.append((path, f"The value {ascii(value)[:80]} {_why(value)}."))
        elif isinstance(value, dict):
            for key, item in value.items():
                if UNSTORABLE.search(key):
                    problems.append((path, f"The name {ascii(key)[:80]} {_why(key)}."))
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, str(index)), item) for index, item in enumerate(value))
    return _nest(sorted(problems)) if problems else {}


def _nest(problems: list[tuple[tuple[str, ...], str]]) -> dict[str, Any]:
    """Errors keyed by path, as DRF nests them; a field holding both keeps the outer one."""
    detail: dict[str, Any] = {}
    for path, message in problems:
        node = detail
        *parents, last = path or ("non_field_errors",)
        for key in parents:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            if isinstance(node.setdefault(last, []), list):
                node[last].append(message)
    return detail


__all__ = ["can_insert", "count_unfinished", "insert", "insert_record", "unstorable"]
