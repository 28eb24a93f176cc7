"""Database work of our own threads that outlives a dropped connection.

No request ends in our threads to close a connection that a database restart
killed: :func:`drop` closes it so that the next query connects again, and
:func:`retrying` repeats work while the database is away. A connection inside a
transaction (an eager task in its caller's ``atomic`` block) is left to its owner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connections

from task_api.conf import task_api_settings
from task_api.store import database

logger = logging.getLogger("task_api.engine.reconnect")

T = TypeVar("T")

#: Errors that mean "the database (or the way to it) is away", not "the query is wrong".
CONNECTION_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

FIRST_DELAY = 0.1
MAX_DELAY = 5.0


def in_transaction() -> bool:
    """True if this thread's connection to the task tables is inside an ``atomic`` block."""
    return bool(database.connection().in_atomic_block)


def recycle() -> None:
    """Close this thread's connections that broke, so that the next query reconnects."""
    drop(broken_only=True)


def drop(*, broken_only: bool = False) -> None:
    """Close this thread's connections outright (after a connection error)."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        try:
            if not broken_only or (conn.connection is not None and not conn.is_usable()):
                conn.close()
        except Exception:  # closing a dead connection may fail too; it is gone either way
            conn.connection = None


def once_more(work: Callable[[], T]) -> T:
    """Run ``work``; after a connection error, reconnect and run it once more (periodic
    work retries next period anyway, but a connection that died idle should not cost one)."""
    try:
        return work()
    except CONNECTION_ERRORS:
        if in_transaction() or _usable():
            raise  # not a dropped connection (e.g. SQLite's lock timeout): no retry now
        drop()
        return work()


def _usable() -> bool:
    try:
        return bool(database.connection().is_usable())
    except Exception:
        return False


def retrying(work: Callable[[], T], what: str, *, retry_for: float | None = None) -> T:
    """Run ``work`` (safe to repeat) until it gets through a connection error, for up to
    ``retry_for`` seconds (default ``TASK_API_DB_RETRY_FOR``); then raise the last error."""
    limit = task_api_settings.db_retry_for if retry_for is None else retry_for
    deadline = time.monotonic() + limit
    delay = FIRST_DELAY
    failures = 0
    while True:
        try:
            result = work()
        except CONNECTION_ERRORS as exc:
            if in_transaction() or time.monotonic() + delay > deadline:
                raise
            failures += 1
            if failures == 1 or failures % 10 == 0:
                logger.warning("Database unreachable while %s (%s); retrying", what, exc)
            drop()
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if failures:
            logger.warning("Database reachable again after %d failures while %s", failures, what)
        return result
