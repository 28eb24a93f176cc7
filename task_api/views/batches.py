"""The REST API of batches under ``/tasks/batches/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from task_api.engine import service
from task_api.engine.batches import start_batch
from task_api.exceptions import BatchFinished
from task_api.models import TaskBatch, TaskStatus
from task_api.owners import owner_fields
from task_api.store.aggregate import batch_json
from task_api.views.base import TaskAPIView
from task_api.views.schema import TaskStartSchema, error_responses, extend_schema


class BatchStartSchema(serializers.Serializer[dict[str, Any]]):
    """The body of ``POST /tasks/batches/``."""

    tasks = serializers.ListField(
        child=TaskStartSchema(),
        min_length=1,
        help_text="At most TASK_API_MAX_BATCH_SIZE task starts (1000 by default).",
    )


class BatchStartSchemaExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """The batch body accepts no other field than ``tasks``."""

    target_class = BatchStartSchema

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(
            self.target, direction, bypass_extensions=True
        )
        return {**schema, "additionalProperties": False}


class _CountsSerializer(serializers.Serializer[dict[str, int]]):
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class BatchSerializer(serializers.Serializer[dict[str, Any]]):
    """A batch as the API shows it (built by :func:`~.aggregate.batch_json`)."""

    uuid = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    total = serializers.IntegerField()
    counts = _CountsSerializer()
    progress = serializers.IntegerField(
        allow_null=True, help_text="Sum of the tasks' progress, over tasks that report one."
    )
    target = serializers.IntegerField(
        allow_null=True, help_text="Sum of the tasks' targets, over tasks that set one."
    )
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)
    seq = serializers.IntegerField()
    tasks = serializers.ListField(child=serializers.UUIDField())


class BatchView(TaskAPIView):
    """Base of the batch views: batches are visible to whom their tasks are."""

    def get_batch(self, uuid: Any) -> TaskBatch:
        batch: TaskBatch | None = self.readable(TaskBatch.objects.filter(uuid=uuid).first())
        if batch is None:
            raise NotFound(f"No batch {str(uuid)!r}.")
        return batch


class BatchListView(BatchView):
    """Start several tasks as one batch."""

    @extend_schema(
        request=BatchStartSchema,
        responses={201: BatchSerializer, **error_responses(400, 413, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict) or set(request.data) - {"tasks"}:
            expected = "Expected a JSON object {'tasks': [{'task', 'inputs'}, ...]}."
            raise ValidationError({"non_field_errors": [expected]})
        if "tasks" not in request.data:
            raise ValidationError({"tasks": ["This field is required."]})
        owner = owner_fields(request.user, getattr(request, "session", None))
        batch = start_batch(request.data["tasks"], owner=owner, python=False)
        return Response(
            batch_json(batch),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(f"{batch.uuid}/")},
        )


class BatchDetailView(BatchView):
    """One of your batches: counts, summed progress, its tasks, and its status."""

    opens_to_share_links = True

    @extend_schema(responses={200: BatchSerializer, **error_responses(404)})
    def get(self, request: Request, uuid: Any) -> Response:
        return Response(batch_json(self.get_batch(uuid)))


class BatchCancelView(BatchView):
    """Cancel every unfinished task of one of your batches."""

    opens_to_share_links = True

    @extend_schema(
        operation_id="tasks_batches_cancel",
        request=None,
        responses={202: BatchSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request, uuid: Any) -> Response:
        batch = self.check_cancel(self.get_batch(uuid))
        if not service.cancel_batch(batch):
            raise BatchFinished(f"Every task of batch {str(batch.uuid)!r} already finished.")
        return Response(batch_json(batch), status=status.HTTP_202_ACCEPTED)
