"""The WebSocket ``start`` frame: start a task and watch it, in one round trip.

The rules are those of ``POST /tasks/`` (:mod:`task_api.api.starts`, and the
permission and throttle classes, asked about a POST by the connection's user);
refusals are worded by :mod:`task_api.api.errors`. The connection joins the
new task's group before the task is dispatched, so the ``started`` answer,
which counts as the task's snapshot, and the events after it leave no gap.
"""

from __future__ import annotations

import io
import logging
import uuid as uuid_lib
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from rest_framework.request import Request

from task_api.api import access, errors, starts
from task_api.api.errors import INVALID_DETAIL, Refusal
from task_api.api.parsers import reject_unstorable
from task_api.conf import task_api_settings
from task_api.consumers import snapshots
from task_api.models import TERMINAL_STATUSES
from task_api.store.task_json import task_json

if TYPE_CHECKING:
    from task_api.consumers.tasks import TaskConsumer

logger = logging.getLogger("task_api.consumers")

MAX_REF_LENGTH = 64


async def start(consumer: TaskConsumer, frame: dict[str, Any]) -> None:
    """Answer a ``start`` frame with ``started`` (and watch the task) or an ``error``."""
    ref = frame.get("ref")
    if not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH:
        message = f"A string of at most {MAX_REF_LENGTH} characters is required."
        await consumer._send(
            Refusal("invalid", 400, INVALID_DETAIL, {"ref": [message]}).frame(None)
        )
        return
    limit = task_api_settings.max_subscriptions
    if len(consumer.watched) + len(consumer.batches) >= limit:
        refusal = Refusal("too_many", 429, f"At most {limit} tasks per connection.")
        await consumer._send(refusal.frame(ref))
        return
    # Join the group of the task-to-be first: no event can fall before the answer.
    planned = uuid_lib.uuid4()
    consumer.watched[str(planned)] = -1
    await consumer._join(str(planned))
    outcome = await _start_in_thread(consumer.scope, frame, planned)
    if isinstance(outcome, Refusal):
        await consumer._leave(str(planned))
        await consumer._send(outcome.frame(ref))
        return
    created, task = outcome
    if task["uuid"] != str(planned):
        # A repeat of an earlier start with the same key: watch that task instead.
        await consumer._leave(str(planned))
        repeated = await _repeat_snapshot(consumer, task["uuid"])
        if repeated is None:
            await consumer._send(Refusal("unavailable", 503, "The task vanished.").frame(ref))
            return
        task = repeated
    await _answer(consumer, ref, created, task)


async def _repeat_snapshot(consumer: TaskConsumer, uuid: str) -> dict[str, Any] | None:
    consumer.watched.setdefault(uuid, -1)
    await consumer._join(uuid)
    loaded = await snapshots.read(uuid)
    if loaded is None:
        await consumer._leave(uuid)
        return None
    return loaded[1]


async def _answer(consumer: TaskConsumer, ref: str, created: bool, task: dict[str, Any]) -> None:
    uuid = task["uuid"]
    consumer.watched[uuid] = max(consumer.watched.get(uuid, -1), task["seq"])
    await consumer._send(
        {
            "type": "started",
            "ref": ref,
            "created": created,
            "uuid": uuid,
            "seq": task["seq"],
            "task": task,
        }
    )
    if task["status"] in TERMINAL_STATUSES:
        await consumer._leave(uuid)


async def _start_in_thread(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    """Everything a start needs from the database, in one hop off the event loop."""
    outcome: tuple[bool, dict[str, Any]] | Refusal = await database_sync_to_async(_start_or_refuse)(
        scope, frame, uuid
    )
    return outcome


def _start_or_refuse(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]] | Refusal:
    try:
        created, task = _start(scope, frame, uuid)
    except Exception as exc:
        refusal = errors.refusal(exc)
        if refusal is None:
            logger.exception("A WebSocket start failed")
            return Refusal("server_error", 500, "The task could not be started.")
        return refusal
    return created, task


def _start(
    scope: dict[str, Any], frame: dict[str, Any], uuid: uuid_lib.UUID
) -> tuple[bool, dict[str, Any]]:
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


def _post_request(scope: dict[str, Any], user: Any, session: Any) -> Request:
    """A DRF request for ``POST`` at the socket's path, by the connection's user."""
    http = ASGIRequest({**scope, "type": "http", "method": "POST"}, io.BytesIO())
    http.user = user
    http.session = session
    request = Request(http)
    request.user = user
    return request
