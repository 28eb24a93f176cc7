"""The DRF serializers of the REST API: they describe the JSON for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from task_api.models import TaskRecord, TaskStatus
from task_api.store.task_json import task_json


class MessageSerializer(serializers.Serializer[dict[str, Any]]):
    """One entry of ``message_log``."""

    value = serializers.JSONField()
    level = serializers.CharField()
    time = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """Why a task failed: the exception's type and message."""

    type = serializers.CharField()
    message = serializers.CharField()


class TaskSerializer(serializers.Serializer[TaskRecord]):
    """A task as the API shows it."""

    # The JSON itself comes from task_json: several times faster, and shared with the WebSocket.

    uuid = serializers.UUIDField(read_only=True)
    task = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices, read_only=True)
    progress = serializers.IntegerField(allow_null=True, read_only=True)
    target = serializers.IntegerField(allow_null=True, read_only=True)
    outputs = serializers.DictField(read_only=True)
    messages = serializers.ListField(child=serializers.JSONField(), read_only=True)
    message_log = MessageSerializer(many=True, read_only=True)
    streams = serializers.DictField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="How many chunks each stream of the task holds.",
    )
    error = ErrorSerializer(allow_null=True, read_only=True)
    created = serializers.DateTimeField(read_only=True)
    started = serializers.DateTimeField(allow_null=True, read_only=True)
    finished = serializers.DateTimeField(allow_null=True, read_only=True)
    seq = serializers.IntegerField(read_only=True)
    attempt = serializers.IntegerField(read_only=True)
    cancel_requested = serializers.BooleanField(read_only=True)

    def to_representation(self, instance: TaskRecord) -> dict[str, Any]:
        return task_json(instance)


class StreamChunksSerializer(serializers.Serializer[dict[str, Any]]):
    """Chunks of one stream of a task, from a position (the `chunks` frame's fields)."""

    uuid = serializers.UUIDField(read_only=True)
    stream = serializers.CharField(read_only=True)
    offset = serializers.IntegerField(read_only=True, help_text="The position of `chunks[0]`.")
    next = serializers.IntegerField(
        read_only=True, help_text="The position after the last chunk: the next `offset`."
    )
    done = serializers.BooleanField(
        read_only=True, help_text="The task has ended and no chunk follows."
    )
    chunks = serializers.ListField(child=serializers.JSONField(), read_only=True)


def plain_start_body(data: Any) -> tuple[str, dict[str, Any]] | None:
    """The task name and inputs of a plain body, which :class:`TaskCreateSerializer` would
    accept as is, without its slower field-by-field run; ``None`` for any other body."""
    if not isinstance(data, dict):
        return None
    name, inputs = data.get("task"), data.get("inputs", {})
    if type(name) is not str or type(inputs) is not dict:
        return None
    if not 0 < len(name) <= 200 or not name.isprintable() or name.strip() != name:
        return None
    return name, dict(inputs)


class TaskCreateSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of ``POST /tasks/``; inputs are checked against the task's parameters."""

    task = serializers.CharField(max_length=200)
    inputs = serializers.DictField(required=False, default=dict)
