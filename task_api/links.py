"""Share links from Python: give someone without an account a live view of one task or
one batch, e.g. in an e-mail.

    from task_api import links

    token = links.share(record, expires_in=3600)  # record: a TaskRecord or a TaskBatch
    url = f"https://example.com/exports/{record.uuid}/#share={token}"
    links.revoke(record)  # every link of it

Whoever holds the token reads the object over REST (``X-Share-Token`` header), watches it
over the WebSocket (``{"type": "subscribe", ..., "share": token}``) and polls it, without
logging in; with ``can_cancel=True`` they may cancel it too. A batch's link opens its tasks.
"""

from __future__ import annotations

from typing import Any

from task_api.engine import sharing
from task_api.models import TaskBatch, TaskRecord


def share(
    obj: TaskRecord | TaskBatch,
    *,
    expires_in: float | None = None,
    can_cancel: bool = False,
    by: Any = None,
) -> str:
    """A new link's token (shown once: only its hash is stored). ``expires_in`` seconds
    default to ``TASK_API_SHARE_EXPIRY``, at most ``TASK_API_SHARE_MAX_EXPIRY``; ``by`` is
    the user who made it, for the admin."""
    token, _link = sharing.create(obj, expires_in=expires_in, can_cancel=can_cancel, by=by)
    return token


def revoke(obj: TaskRecord | TaskBatch, token: str | None = None) -> int:
    """Revoke the link of ``token`` to ``obj``, or every link of ``obj``: how many were live.
    Reads and new subscriptions with them are refused at once."""
    return sharing.revoke(obj, token)


__all__ = ["revoke", "share"]
