"""The DRF classes of REST and the WebSocket ``start`` frame: the ``TASK_API_*`` settings,
else DRF's defaults, read per use (so ``override_settings`` works)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string
from rest_framework.exceptions import NotAuthenticated, PermissionDenied, Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings

from task_api.conf import task_api_settings
from task_api.models import TaskRecord


def _instances(configured: Sequence[Any] | None, default: Sequence[Any]) -> list[Any]:
    return [cls() for cls in _imported(tuple(default if configured is None else configured))]


@functools.cache
def _imported(entries: tuple[Any, ...]) -> tuple[Any, ...]:
    """The classes of dotted paths or classes, imported once per list."""
    return tuple(import_string(entry) if isinstance(entry, str) else entry for entry in entries)


def authenticators() -> list[Any]:
    auth = task_api_settings.authentication_classes
    return _instances(auth, api_settings.DEFAULT_AUTHENTICATION_CLASSES)


def permissions() -> list[Any]:
    return _instances(task_api_settings.permission_classes, api_settings.DEFAULT_PERMISSION_CLASSES)


def throttles() -> list[Any]:
    return _instances(None, api_settings.DEFAULT_THROTTLE_CLASSES)


class StartView:
    """The view that starts tasks, as permission and throttle classes read it."""

    throttle_scope: str | None = None
    queryset = TaskRecord.objects.none()


def check_start(request: Request) -> None:
    """Raise what ``POST /tasks/`` by ``request.user`` would meet: ``NotAuthenticated`` or
    ``PermissionDenied`` from a permission class, ``Throttled`` from a throttle class."""
    view = StartView()
    for permission in permissions():
        if not permission.has_permission(request, view):
            if not request.user.is_authenticated:
                raise NotAuthenticated()
            message = getattr(permission, "message", None)
            raise PermissionDenied(message, getattr(permission, "code", None))
    if waits := [t.wait() for t in throttles() if not t.allow_request(request, view)]:
        raise Throttled(max((wait for wait in waits if wait is not None), default=None))
