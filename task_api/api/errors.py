"""HTTP errors of the REST API (DRF exceptions)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException


class TaskFinished(APIException):
    """The task already reached a terminal state."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task already finished."
    default_code = "task_finished"


class RequestTooLarge(APIException):
    """The request body is over ``TASK_API_MAX_REQUEST_BYTES``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class TooManyTasks(APIException):
    """The user has too many unfinished tasks."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many unfinished tasks."
    default_code = "too_many_tasks"


class ServiceUnavailable(APIException):
    """The backend's broker is down; nothing was started."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The task queue is unavailable; try again later."
    default_code = "backend_unavailable"


class DatabaseUnavailable(APIException):
    """The database is busy (SQLite's write lock) or unreachable; retry after ``Retry-After``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is busy or unavailable; try again shortly."
    default_code = "database_unavailable"
    #: Seconds to wait, sent as ``Retry-After`` by DRF's exception handler.
    wait = 1


def translate(exc: Exception) -> Exception:
    """The documented JSON error for an exception Django or the database raised, or ``exc``."""
    if isinstance(exc, RequestDataTooBig):
        # Django's own limit, checked before any parser sees the body.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
    return _database_unavailable(exc) or exc


def _database_unavailable(exc: Exception) -> DatabaseUnavailable | None:
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return DatabaseUnavailable("The database is busy; try again shortly.")
    if isinstance(exc, InterfaceError) or any(
        word in text for word in ("connect", "terminat", "closed", "shut down", "starting up")
    ):
        return DatabaseUnavailable("The database is unavailable; try again shortly.")
    return None
