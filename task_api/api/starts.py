"""What a client's start must pass, whichever door it comes through.

``POST /tasks/`` and the WebSocket ``start`` frame both clean the body and
the idempotency key here and start through :func:`start`, so a start is
accepted or refused alike on either, with the same errors.
"""

from __future__ import annotations

import re
import uuid as uuid_lib
from typing import Any

from rest_framework.exceptions import ValidationError

from task_api.api.errors import ServiceUnavailable, TooManyTasks
from task_api.api.serializers import TaskCreateSerializer, plain_start_body
from task_api.engine.dispatch import BackendUnavailable
from task_api.engine.service import LimitReached, start_task
from task_api.exceptions import UnknownTask
from task_api.models import TaskRecord
from task_api.registry import get_task
from task_api.tasks import InputErrors, Task

MAX_KEY_LENGTH = 200
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def clean_body(data: Any) -> tuple[type[Task], dict[str, Any]]:
    """The task class and cleaned inputs of a start body; ``ValidationError`` naming every
    bad field otherwise."""
    if not isinstance(data, dict):
        raise ValidationError(
            {"non_field_errors": ["Expected a JSON object with 'task' and 'inputs'."]}
        )
    plain = plain_start_body(data)
    if plain is None:  # the serializer accepts it or names what is wrong
        body = TaskCreateSerializer(data=data)
        body.is_valid(raise_exception=True)
        plain = body.validated_data["task"], body.validated_data["inputs"]
    name, raw_inputs = plain
    try:
        task_class = get_task(name)
    except UnknownTask as exc:
        raise ValidationError({"task": [str(exc)]}) from None
    try:
        inputs = task_class.clean_inputs(raw_inputs)
    except InputErrors as exc:
        raise ValidationError({"inputs": exc.errors}) from None
    return task_class, inputs


def clean_key(value: Any, field: str) -> str:
    """An idempotency key (``""`` for none); ``ValidationError`` on ``field`` otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: ["Must be a string."]})
    key = value.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError({field: [f"At most {MAX_KEY_LENGTH} characters."]})
    if _UNSTORABLE.search(key):
        raise ValidationError({field: ["Must be valid Unicode without NUL characters."]})
    return key


def start(
    task_class: type[Task],
    inputs: dict[str, Any],
    *,
    owner: dict[str, Any],
    idempotency_key: str,
    uuid: uuid_lib.UUID | None = None,
) -> tuple[TaskRecord, bool]:
    """Start the task for ``owner``: the record and whether it is new, or the API error
    (429 over the owner's limit, 503 when the broker is down)."""
    try:
        return start_task(
            task_class, inputs, owner=owner, idempotency_key=idempotency_key, uuid=uuid
        )
    except LimitReached as exc:
        raise TooManyTasks(str(exc)) from None
    except BackendUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
