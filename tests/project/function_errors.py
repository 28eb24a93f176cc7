"""A ``@task`` function that cannot be listed: its parameter has no annotation."""

from __future__ import annotations

from task_api.compat import task


@task
def untyped(anything) -> None:  # type: ignore[no-untyped-def]
    """Takes a parameter without an annotation."""


def takes_bytes(blob: bytes) -> None:
    """Bytes have no JSON form."""


def takes_args(*args: int) -> None:
    """Variadic parameters have no name to send them by."""
