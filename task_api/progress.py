"""Progress, messages, streams and cancellation for code that runs inside a task.

Any function a task body calls (a ``@task`` function first of all) reports to
the running task's reporter, bound to a context variable::

    from task_api import progress

    progress.set_target(len(rows))
    for row in rows:
        handle(row)
        progress.inc()

Outside a worker of ours (a plain call, a test, Django's ``ImmediateBackend``)
every call is a cheap no-op and ``cancel_requested()`` is ``False``. A call only
stores a number; the latest values are pushed every ``TASK_API_PROGRESS_INTERVAL``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from task_api.reporting import Reporter

_current: ContextVar[Reporter | None] = ContextVar("task_api_reporter", default=None)
_get = _current.get


def set_target(target: int) -> None:
    """Set the value that the progress counts towards."""
    reporter = _get()
    if reporter is not None:
        reporter.target = target if type(target) is int else int(target)
        reporter.touch()


def set(progress: int) -> None:
    """Set the progress; pushed to watchers, coalesced."""
    reporter = _get()
    if reporter is not None:
        reporter.progress = progress if type(progress) is int else int(progress)
        if not reporter.dirty:
            reporter.touch()


def inc(amount: int = 1) -> None:
    """Add ``amount`` to the progress (which starts at 0)."""
    reporter = _get()
    if reporter is not None:
        amount = amount if type(amount) is int else int(amount)
        reporter.progress = (reporter.progress or 0) + amount
        if not reporter.dirty:
            reporter.touch()


def message(value: Any, level: str = "info") -> None:
    """Add a message (any JSON value, usually a string) for the watchers."""
    reporter = _get()
    if reporter is not None:
        reporter.add_message(value, level)


def write(chunk: Any, stream: str = "output") -> None:
    """Append ``chunk`` (text, or any JSON value) to a stream of the running task (see
    ``Task.write``); outside a worker, nothing happens."""
    reporter = _get()
    if reporter is not None:
        reporter.write(chunk, stream)


def check_cancelled() -> None:
    """Raise ``Cancelled`` (or ``TaskTimeout``) if the task must stop now."""
    reporter = _get()
    if reporter is not None:
        reporter.check()


def cancel_requested() -> bool:
    """Whether somebody asked to cancel the running task."""
    reporter = _get()
    return reporter is not None and reporter.cancel_requested


@contextlib.contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    """Bind ``reporter`` as the running task's for the code in the block."""
    token = _current.set(reporter)
    try:
        yield
    finally:
        _current.reset(token)


__all__ = [
    "cancel_requested",
    "check_cancelled",
    "inc",
    "message",
    "reporting_to",
    "set",
    "set_target",
    "write",
]
