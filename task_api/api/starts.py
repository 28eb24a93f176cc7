"""A client's start, by ``POST /tasks/`` or the WebSocket ``start`` frame: the body's shape and
the idempotency key are checked here, the rest by the service, so both doors answer alike."""

from __future__ import annotations

import uuid as uuid_lib
from typing import Any

from rest_framework.exceptions import ValidationError

from task_api.api.serializers import TaskCreateSerializer, plain_start_body
from task_api.engine import service
from task_api.models import TaskRecord
from task_api.owners import owner_fields
from task_api.store.inserting import UNSTORABLE

MAX_KEY_LENGTH = 200


def clean_body(data: Any) -> tuple[str, dict[str, Any]]:
    """The task name and inputs of a start body; else ``ValidationError`` naming each bad field."""
    if not isinstance(data, dict):
        expected = "Expected a JSON object with 'task' and 'inputs'."
        raise ValidationError({"non_field_errors": [expected]})
    if (plain := plain_start_body(data)) is None:  # the serializer accepts it or explains
        body = TaskCreateSerializer(data=data)
        body.is_valid(raise_exception=True)
        plain = body.validated_data["task"], body.validated_data["inputs"]
    return plain


def clean_key(value: Any, field: str) -> str:
    """An idempotency key (``""`` for none); ``ValidationError`` on ``field`` otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: ["Must be a string."]})
    key = value.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError({field: [f"At most {MAX_KEY_LENGTH} characters."]})
    if UNSTORABLE.search(key):
        raise ValidationError({field: ["Must be valid Unicode without NUL characters."]})
    return key


def start(
    body: Any,
    key: Any,
    key_field: str,
    *,
    user: Any,
    session: Any,
    uuid: uuid_lib.UUID | None = None,
) -> tuple[TaskRecord, bool]:
    """Start ``body``'s task for ``user`` (or, anonymous, ``session``) with the idempotency key
    ``key`` (``key_field`` in errors): its record and whether it is new."""
    name, inputs = clean_body(body)
    key = clean_key(key, key_field)
    owner = owner_fields(user, session)
    return service.start(name, inputs, owner=owner, idempotency_key=key, uuid=uuid)
