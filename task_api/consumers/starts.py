"""The WebSocket ``start`` frame, under the rules of ``POST /tasks/``.

Those are :mod:`task_api.api.starts` and the view's permission and throttle
classes, asked about a POST by the connection's user. The consumer joins the
new task's group before the task is dispatched, so the ``started`` answer,
which counts as the task's snapshot, and the events after it leave no gap.
"""

from __future__ import annotations

import io
import logging
import uuid as uuid_lib
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.request import Request

from task_api.api import starts
from task_api.api.errors import DatabaseUnavailable, ServiceUnavailable, TooManyTasks, translate
from task_api.api.parsers import reject_unstorable
from task_api.owners import owner_fields
from task_api.protocol import INVALID_DETAIL, Frame, error_frame
from task_api.store.task_json import task_json

logger = logging.getLogger("task_api.consumers")

#: Error code of each refusal, in the order they are tried (subclasses first).
_CODES: tuple[tuple[type[APIException], str], ...] = (
    (ValidationError, "invalid"),
    (PermissionDenied, "forbidden"),
    (NotAuthenticated, "forbidden"),
    (Throttled, "throttled"),
    (TooManyTasks, "too_many_tasks"),
    (ServiceUnavailable, "unavailable"),
    (DatabaseUnavailable, "unavailable"),
)


@dataclass(frozen=True)
class Refusal:
    """Why a start frame started nothing: an ``error`` frame answering ``ref``."""

    code: str
    status: int
    detail: str
    errors: Any = None

    def frame(self, ref: str | None) -> Frame:
        """The ``error`` frame answering the start frame ``ref``."""
        return error_frame(self.code, self.detail, ref=ref, status=self.status, errors=self.errors)


async def start(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    """Start the task of a ``start`` frame as ``uuid``, in one hop off the event loop:
    whether it was created and its JSON, or why not."""
    outcome: tuple[bool, dict[str, Any]] | Refusal = await database_sync_to_async(_start_or_refuse)(
        scope, frame, uuid
    )
    return outcome


def _start_or_refuse(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    try:
        created, task = _start(scope, frame, uuid)
    except APIException as exc:
        return _refusal(exc, scope)
    except Exception as exc:
        translated = translate(exc)
        if isinstance(translated, APIException):
            return _refusal(translated, scope)
        logger.exception("A WebSocket start failed")
        return Refusal("server_error", 500, "The task could not be started.")
    return created, task


def _start(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]]:
    user = scope.get("user") or AnonymousUser()
    session = scope.get("session")
    request = _post_request(scope, user, session)
    view = _list_view(request)
    view.check_permissions(request)
    view.check_throttles(request)
    body = {name: frame[name] for name in ("task", "inputs") if name in frame}
    reject_unstorable(body)
    task_class, inputs = starts.clean_body(body)
    key = starts.clean_key(frame.get("idempotency_key"), "idempotency_key")
    owner = owner_fields(user, session)
    record, created = starts.start(task_class, inputs, owner=owner, idempotency_key=key, uuid=uuid)
    return created, task_json(record)


def _post_request(scope: dict[str, Any], user: Any, session: Any) -> Request:
    """A DRF request for ``POST`` at the socket's path, by the connection's user."""
    http = ASGIRequest({**scope, "type": "http", "method": "POST"}, io.BytesIO())
    http.user = user
    http.session = session
    request = Request(http)
    request.user = user
    return request


def _list_view(request: Request) -> Any:
    from task_api.views.tasks import TaskListView

    view = TaskListView()
    view.setup(request._request)
    view.request = request
    view.format_kwarg = None
    return view


def _refusal(exc: APIException, scope: dict[str, Any]) -> Refusal:
    code = next((code for kind, code in _CODES if isinstance(exc, kind)), "unavailable")
    if code == "invalid":
        return Refusal(code, 400, INVALID_DETAIL, exc.detail)
    if code == "forbidden":
        user = scope.get("user")
        anonymous = user is None or not user.is_authenticated
        detail = NotAuthenticated.default_detail if anonymous else exc.detail
        return Refusal(code, 403, str(detail))
    status = exc.status_code if code != "unavailable" else 503
    return Refusal(code, status, str(exc.detail))
