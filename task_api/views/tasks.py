"""The REST API of tasks under ``/tasks/``."""

from __future__ import annotations

import uuid as uuid_lib
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from task_api.api import starts
from task_api.api.serializers import TaskSerializer
from task_api.engine import service
from task_api.engine.policy import get_policy
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_tasks
from task_api.store.task_json import task_json
from task_api.views.base import TaskAPIView, TaskPagination
from task_api.views.schema import (
    CatalogEntrySerializer,
    TaskStartSchema,
    error_responses,
    extend_schema,
)


class TaskListView(TaskAPIView):
    """List your tasks, newest first, or start a task."""

    pagination_class = TaskPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("task", str, description="Only tasks of this name."),
            OpenApiParameter("batch", OpenApiTypes.UUID, description="Only tasks of this batch."),
            OpenApiParameter(
                "status", str, enum=TaskStatus.values, description="Only tasks in this status."
            ),
        ],
        responses={200: TaskSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request) -> Response:
        # Staff may read any task, but their list holds their own tasks only.
        tasks = get_policy().own(self.actor(), TaskRecord.objects.all())
        if name := request.query_params.get("task"):
            # No task name holds NUL, and PostgreSQL refuses it in a query.
            tasks = tasks.none() if "\x00" in name else tasks.filter(name=name)
        if batch := request.query_params.get("batch"):
            try:
                tasks = tasks.filter(batch__uuid=uuid_lib.UUID(batch))
            except ValueError:
                raise ValidationError({"batch": [f"{batch[:100]!r} is not a uuid."]}) from None
        if wanted := request.query_params.get("status"):
            if wanted not in TaskStatus.values:
                known = ", ".join(TaskStatus.values)
                message = f"Unknown status {wanted!r}; choose one of {known}."
                raise ValidationError({"status": [message]})
            tasks = tasks.filter(status=wanted)
        page = self.paginate_queryset(tasks.order_by("-created", "-id"))
        return self.get_paginated_response([task_json(record) for record in page or []])

    @extend_schema(
        request=TaskStartSchema,
        responses={201: TaskSerializer, 200: TaskSerializer, **error_responses(400, 413, 429, 503)},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        session = getattr(request, "session", None)
        record, created = starts.start(
            request.data, key, "Idempotency-Key", user=request.user, session=session
        )
        return Response(
            task_json(record),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": request.build_absolute_uri(f"{record.uuid}/")},
        )


class TaskDetailView(TaskAPIView):
    """One of your tasks."""

    opens_to_share_links = True

    @extend_schema(responses={200: TaskSerializer, **error_responses(404)})
    def get(self, request: Request, uuid: Any) -> Response:
        return Response(TaskSerializer(self.get_record(uuid)).data)


class TaskCancelView(TaskAPIView):
    """Cancel one of your tasks: at once if pending, at its next progress call if running."""

    opens_to_share_links = True

    @extend_schema(
        operation_id="tasks_cancel",
        request=None,
        responses={202: TaskSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request, uuid: Any) -> Response:
        record = service.cancel(self.check_cancel(self.get_record(uuid)))
        return Response(TaskSerializer(record).data, status=status.HTTP_202_ACCEPTED)


class TaskCatalogView(TaskAPIView):
    """The registered tasks with the JSON Schema of their inputs and outputs."""

    pagination_class = None

    @extend_schema(
        operation_id="tasks_catalog",
        responses={200: CatalogEntrySerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        entries = [
            {
                "name": name,
                "title": cls.get_title(),
                "description": cls.get_description(),
                "inputs": cls.input_schema(),
                "outputs": cls.output_schema(),
                "streams": cls.stream_schema(),
            }
            for name, cls in sorted(get_tasks().items())
        ]
        return Response(entries)
