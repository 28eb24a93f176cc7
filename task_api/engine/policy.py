"""Who may see a task: one rule for REST, polling and WebSocket subscriptions.

A task belongs to the user who started it; an anonymous visitor's task
belongs to their session. Staff may see every task, but lists show the
caller's own tasks only. A task that belongs to nobody (started outside a
request) is visible to staff only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from task_api.models import TaskRecord, TaskRecordQuerySet


def own_tasks(user: Any, session_key: str | None) -> TaskRecordQuerySet:
    """The tasks this user or session started."""
    tasks = TaskRecord.objects.all()
    if user is not None and user.is_authenticated:
        return tasks.filter(owner=user)
    if session_key:
        return tasks.filter(Q(owner__isnull=True) & Q(session_key=session_key))
    return tasks.none()


def visible_tasks(user: Any, session_key: str | None) -> TaskRecordQuerySet:
    """The tasks this user or session may see: their own, or every task for staff."""
    if user is not None and user.is_authenticated and user.is_staff:
        return TaskRecord.objects.all()
    return own_tasks(user, session_key)


def can_access(record: TaskRecord, user: Any, session_key: str | None) -> bool:
    """Whether this user or session may see ``record``."""
    if user is not None and user.is_authenticated:
        return bool(user.is_staff) or record.owner_id == user.pk
    return bool(session_key) and record.owner_id is None and record.session_key == session_key
