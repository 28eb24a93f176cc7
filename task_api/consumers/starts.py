"""The WebSocket ``start`` frame, under the rules of ``POST /tasks/`` (:mod:`task_api.api`)."""

from __future__ import annotations

import io
import logging
import uuid as uuid_lib
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from rest_framework.request import Request

from task_api.api import access, errors, starts
from task_api.api.errors import Refusal
from task_api.api.parsers import reject_unstorable
from task_api.store.task_json import task_json

logger = logging.getLogger("task_api.consumers")


async def start(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    """Start the task of a ``start`` frame as ``uuid``, in one hop off the event loop:
    whether it was created and its JSON, or why not."""
    outcome: tuple[bool, dict[str, Any]] | Refusal = await database_sync_to_async(_start)(
        scope, frame, uuid
    )
    return outcome


def _start(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    try:
        user = scope.get("user") or AnonymousUser()
        session = scope.get("session")
        access.check_start(_post_request(scope, user, session))
        body = {name: frame[name] for name in ("task", "inputs") if name in frame}
        reject_unstorable(body)
        key = frame.get("idempotency_key")
        record, created = starts.start(
            body, key, "idempotency_key", user=user, session=session, uuid=uuid
        )
        return created, task_json(record)
    except Exception as exc:
        refusal = errors.refusal(exc)
        if refusal is None:
            logger.exception("A WebSocket start failed")
            return Refusal("server_error", 500, "The task could not be started.")
        return refusal


def _post_request(scope: dict[str, Any], user: Any, session: Any) -> Request:
    """A DRF request for ``POST`` at the socket's path, by the connection's user."""
    http = ASGIRequest({**scope, "type": "http", "method": "POST"}, io.BytesIO())
    http.user = user
    http.session = session
    request = Request(http)
    request.user = user
    return request
