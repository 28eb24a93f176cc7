"""Who owns a task started from code: ``enqueued_by(user_or_request)``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_owner: ContextVar[dict[str, Any] | None] = ContextVar("task_api_owner", default=None)


@contextlib.contextmanager
def enqueued_by(user_or_request: Any) -> Iterator[None]:
    """Tasks started from code in the block belong to this user, or this request's visitor.

    Given a request, the task belongs to its user, or to its session for an
    anonymous visitor, exactly as if the page had started it with ``POST /tasks/``.
    """
    from .access import owner_fields

    if hasattr(user_or_request, "user") and hasattr(user_or_request, "session"):
        owner = owner_fields(user_or_request.user, user_or_request.session)
    else:
        owner = owner_fields(user_or_request, None)
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def current_owner() -> dict[str, Any]:
    """The ownership fields set by the innermost ``enqueued_by``, or none."""
    return dict(_owner.get() or {})


__all__ = ["current_owner", "enqueued_by"]
