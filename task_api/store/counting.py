"""The per-user limit's count, as one plain statement (it runs on every start).

The ORM builds ``filter(...).count()`` anew on each call, which costs more than
the query itself; this statement is built once per database vendor and counts
no further than the limit. :mod:`task_api.inserting` folds the same count into
the ``INSERT`` of a new task.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

from task_api.models import UNFINISHED_STATUSES, TaskRecord

_statements: dict[tuple[str, bool, bool], str] = {}


def counted_rows(db: BaseDatabaseWrapper, with_owner: bool, with_session: bool) -> str:
    """``SELECT COUNT(*)`` of the owner's unfinished rows, up to a limit; see ``count_params``."""
    key = (db.vendor, with_owner, with_session)
    sql = _statements.get(key)
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
        sql = _statements[key] = (
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {q(meta.db_table)} WHERE {where} "
            f"AND {column('status')} IN (%s, %s) LIMIT %s) AS counted"
        )
    return sql


def count_params(owner: dict[str, Any], limit: int) -> tuple[bool, bool, list[Any]]:
    """Whether the count filters on a user and on a session, and its parameters."""
    user = owner.get("owner")
    params: list[Any] = [] if user is None else [getattr(user, "pk", user)]
    if "session_key" in owner:
        params.append(owner["session_key"])
    params += [str(status) for status in UNFINISHED_STATUSES]
    params.append(limit)
    return user is not None, "session_key" in owner, params


def count_unfinished(owner: dict[str, Any], limit: int) -> int:
    """Unfinished tasks of ``owner`` (``owner``/``session_key`` filter values), up to ``limit``."""
    with_owner, with_session, params = count_params(owner, limit)
    with connection.cursor() as cursor:
        cursor.execute(counted_rows(connection, with_owner, with_session), params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0
