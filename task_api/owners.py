"""Who owns a task started from code: ``enqueued_by(user_or_request)``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_owner: ContextVar[dict[str, Any] | None] = ContextVar("task_api_owner", default=None)


@contextlib.contextmanager
def enqueued_by(user_or_request: Any) -> Iterator[None]:
    """Tasks started from code in the block belong to this user, or to this request's user or
    (anonymous) session, exactly as if the page had started them with ``POST /tasks/``."""
    if hasattr(user_or_request, "user") and hasattr(user_or_request, "session"):
        owner = owner_fields(user_or_request.user, user_or_request.session)
    else:
        owner = owner_fields(user_or_request, None)
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def owner_fields(user: Any, session: Any) -> dict[str, Any]:
    """The ownership fields of a task started by this user or session."""
    if user is not None and user.is_authenticated:
        return {"owner": user, "session_key": ""}
    if session is not None:
        if not session.session_key:
            session.save()
        return {"owner": None, "session_key": session.session_key or ""}
    return {"owner": None, "session_key": ""}


def current_owner() -> dict[str, Any]:
    """The ownership fields set by the innermost ``enqueued_by``, or none."""
    return dict(_owner.get() or {})


__all__ = ["current_owner", "enqueued_by", "owner_fields"]
