"""Share links: a random token that lets whoever holds it read and watch one task or one
batch (with its tasks), and cancel it if the link says so, until it expires or is revoked.

Only the token's SHA-256 is stored, so the database cannot give tokens away; they never
appear in task JSON or in our logs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from task_api.conf import task_api_settings
from task_api.exceptions import ShareRefused
from task_api.models import ShareLink, TaskBatch, TaskRecord

PREFIX = "share_"
MAX_TOKEN_LENGTH = 100


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    obj: TaskRecord | TaskBatch,
    *,
    expires_in: float | None = None,
    can_cancel: bool = False,
    by: Any = None,
) -> tuple[str, ShareLink]:
    """A new link to ``obj``: its token (shown once) and the stored link. ``expires_in``
    seconds default to ``TASK_API_SHARE_EXPIRY``, at most ``TASK_API_SHARE_MAX_EXPIRY``."""
    longest = task_api_settings.share_max_expiry
    seconds = task_api_settings.share_expiry if expires_in is None else expires_in
    if not 0 < seconds <= longest:
        raise ValueError(f"expires_in must be more than 0 and at most {longest:g} seconds.")
    token = PREFIX + secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        digest=_digest(token),
        task=obj if isinstance(obj, TaskRecord) else None,
        batch=obj if isinstance(obj, TaskBatch) else None,
        can_cancel=can_cancel,
        expires=timezone.now() + timedelta(seconds=seconds),
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    return token, link


def resolve(token: Any) -> ShareLink:
    """The live link of ``token``; :class:`ShareRefused` if it opens nothing."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise ShareRefused("share_invalid", "The share token is not valid.")
    link = ShareLink.objects.filter(digest=_digest(token)).first()
    if link is None:
        raise ShareRefused("share_invalid", "The share token is not valid.")
    if link.revoked is not None:
        raise ShareRefused("share_revoked", "The share link was revoked.")
    if link.expires <= timezone.now():
        raise ShareRefused("share_expired", "The share link expired.")
    return link


def revoke(obj: TaskRecord | TaskBatch, token: str | None = None) -> int:
    """Revoke the link of ``token`` to ``obj``, or all of ``obj``'s; how many were live."""
    links = ShareLink.objects.filter(revoked__isnull=True, expires__gt=timezone.now())
    links = links.filter(task=obj) if isinstance(obj, TaskRecord) else links.filter(batch=obj)
    if token is not None:
        links = links.filter(digest=_digest(token))
    return links.update(revoked=timezone.now())


def opens(link: ShareLink, obj: Any, *, cancel: bool = False) -> bool:
    """Whether ``link`` lets its holder see (or, with ``cancel``, cancel) ``obj``: its
    task, or its batch and the batch's tasks; and whether it still lasts."""
    if cancel and not link.can_cancel:
        return False
    if link.revoked is not None or link.expires <= timezone.now():
        return False
    if isinstance(obj, TaskRecord):
        return obj.pk == link.task_id or (
            link.batch_id is not None and obj.batch_id == link.batch_id
        )
    return isinstance(obj, TaskBatch) and obj.pk == link.batch_id
