"""The one statement on the progress hot path: a prepared ``UPDATE`` of a running task.

The ORM's ``filter(...).update(...)`` spends about 200 µs building SQL that
never changes; the same statement sent directly takes about 20 µs. Values go
through each field's own ``get_db_prep_save``, so JSON and integers are stored
exactly as the ORM would store them.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from task_api.models import TaskRecord, TaskStatus


def _field(name: str) -> Field[Any, Any]:
    return cast("Field[Any, Any]", TaskRecord._meta.get_field(name))


@cache
def _statement(vendor: str, columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    meta = TaskRecord._meta
    assignments = ", ".join(f"{quote(str(_field(c).column))} = %s" for c in columns)
    return (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "
        f"WHERE {quote('id')} = %s AND {quote('status')} = %s AND {quote('attempt')} = %s"
    )


def store_progress(pk: int, attempt: int, fields: dict[str, Any]) -> bool:
    """Write ``fields`` to task ``pk`` if it is still running this attempt; whether it was."""
    columns = tuple(fields)
    values = [_field(c).get_db_prep_save(fields[c], connection) for c in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            _statement(connection.vendor, columns),
            [*values, pk, TaskStatus.RUNNING.value, attempt],
        )
        return bool(cursor.rowcount)
