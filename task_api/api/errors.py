"""One error vocabulary for REST and the WebSocket: each refusal has a code and a status.

Domain, Django and database exceptions are answered over REST as a DRF ``APIException``,
over the WebSocket as an ``error`` frame with the same code and status (:data:`CODES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import APIException, ValidationError

from task_api.exceptions import (
    BackendUnavailable,
    BatchErrors,
    BatchFinished,
    BatchTooLarge,
    InputErrors,
    LimitReached,
    ShareRefused,
    TaskFinished,
    UnknownTask,
)
from task_api.protocol import INVALID_DETAIL, Frame, error_frame

#: Every code and its status (the domain errors' in :func:`to_api`). ``forbidden``: a
#: permission class refused (REST may answer 401); ``share_*``: a share token that opens
#: nothing; ``too_many``: a connection's subscriptions;
#: ``unavailable`` also answers a database busy or away; ``server_error``: anything else (logged).
CODES = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "share_invalid": 401,
    "share_expired": 401,
    "share_revoked": 403,
    "finished": 409,
    "too_large": 413,
    "throttled": 429,
    "too_many_tasks": 429,
    "too_many": 429,
    "unavailable": 503,
    "server_error": 500,
}
#: The code of each domain error that is no field error.
_DOMAIN: tuple[tuple[type[Exception], str], ...] = (
    (LimitReached, "too_many_tasks"),
    (BackendUnavailable, "unavailable"),
    (BatchTooLarge, "too_large"),
    (TaskFinished, "finished"),
    (BatchFinished, "finished"),
)
#: DRF's codes of the refusals of the permission classes.
_FORBIDDEN = frozenset({"permission_denied", "not_authenticated", "authentication_failed"})


class Refused(APIException):
    """An answer of the vocabulary: its code and status; ``wait`` is sent as ``Retry-After``."""

    def __init__(self, code: str, detail: str, wait: int | None = None) -> None:
        super().__init__(detail, code)
        self.status_code = CODES[code]
        self.wait = wait


def too_large(limit: int) -> Refused:
    """The answer to a request body over ``limit`` bytes."""
    return Refused("too_large", f"The request body is over the limit of {limit} bytes.")


def to_api(exc: Exception) -> Exception:
    """The DRF exception answering ``exc``, or ``exc`` itself (a server error)."""
    if isinstance(exc, UnknownTask):
        return ValidationError({"task": [str(exc)]})
    if isinstance(exc, InputErrors):
        return ValidationError({"inputs": exc.errors})
    if isinstance(exc, BatchErrors):
        return ValidationError({"tasks": exc.errors.get("tasks", exc.errors)})
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, before any parser
        return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, ShareRefused):
        return Refused(exc.code, str(exc))
    for kind, code in _DOMAIN:
        if isinstance(exc, kind):
            return Refused(code, str(exc))
    if isinstance(exc, OperationalError | InterfaceError):
        # 503 with ``Retry-After: 1`` for SQLite's write lock or a database that is away.
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return Refused("unavailable", "The database is busy; try again shortly.", wait=1)
        if isinstance(exc, InterfaceError) or any(
            word in text for word in ("connect", "terminat", "closed", "shut down", "starting up")
        ):
            return Refused("unavailable", "The database is unavailable; try again shortly.", 1)
    return exc


@dataclass(frozen=True)
class Refusal:
    """Why a WebSocket frame started nothing: an ``error`` frame answering ``ref``."""

    code: str
    status: int
    detail: str
    errors: Any = None

    def frame(self, ref: str | None) -> Frame:
        """The ``error`` frame answering the start frame ``ref``."""
        return error_frame(self.code, self.detail, ref=ref, status=self.status, errors=self.errors)


def refusal(exc: Exception) -> Refusal | None:
    """The WebSocket answer to ``exc``: REST's code and status (403 for a refused
    permission), the REST 400 body as ``errors``; ``None`` for a server error."""
    answer = to_api(exc)
    if isinstance(answer, ValidationError):
        return Refusal("invalid", 400, INVALID_DETAIL, answer.detail)
    if not isinstance(answer, APIException):
        return None
    code = str(getattr(answer.detail, "code", None) or answer.default_code)
    code = "forbidden" if code in _FORBIDDEN else code
    return Refusal(code, CODES.get(code, answer.status_code), str(answer.detail))
