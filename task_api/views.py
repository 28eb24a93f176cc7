"""The REST API under ``/tasks/``."""

from __future__ import annotations

import functools
import uuid as uuid_lib
from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from . import access, lifecycle, recovery, start_rules
from .api_errors import TaskFinished, translate
from .backends.base import get_backend
from .conf import task_api_settings
from .models import TaskRecord, TaskRecordQuerySet, TaskStatus
from .parsers import LimitedJSONParser
from .registry import get_tasks
from .renderers import SafeJSONRenderer
from .schema import CatalogEntrySerializer, TaskStartSchema, error_responses, extend_schema
from .serializers import TaskSerializer, task_json


def _classes(configured: Sequence[Any] | None, default: Sequence[Any]) -> tuple[Any, ...]:
    return _imported(tuple(default if configured is None else configured))


@functools.cache
def _imported(entries: tuple[Any, ...]) -> tuple[Any, ...]:
    """The classes of dotted paths or classes, imported once per list."""
    return tuple(import_string(entry) if isinstance(entry, str) else entry for entry in entries)


def _uuid_param(name: str, value: str) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(value)
    except ValueError:
        raise ValidationError({name: [f"{value[:100]!r} is not a uuid."]}) from None


class TaskPagination(PageNumberPagination):
    """Pages of ``TASK_API_PAGE_SIZE`` tasks; ``?page_size=`` up to 200."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        self.page_size = task_api_settings.page_size
        return super().get_page_size(request)


class TaskAPIView(GenericAPIView[TaskRecord]):
    """Base view: authentication and permissions from the settings, read per request."""

    parser_classes = [LimitedJSONParser]
    serializer_class = TaskSerializer
    # Set here so that the OpenAPI document works whatever DEFAULT_SCHEMA_CLASS says.
    schema = AutoSchema()

    def get_authenticators(self) -> list[Any]:
        classes = _classes(
            task_api_settings.authentication_classes, api_settings.DEFAULT_AUTHENTICATION_CLASSES
        )
        return [auth() for auth in classes]

    def get_permissions(self) -> list[Any]:
        classes = _classes(
            task_api_settings.permission_classes, api_settings.DEFAULT_PERMISSION_CLASSES
        )
        return [permission() for permission in classes]

    def get_renderers(self) -> list[Any]:
        # Stored text that is not valid Unicode must not turn a read into a 500.
        return [
            SafeJSONRenderer() if type(renderer) is JSONRenderer else renderer
            for renderer in super().get_renderers()
        ]

    def handle_exception(self, exc: Exception) -> Response:
        # A body over Django's limit, a locked SQLite file, a restarting database:
        # documented JSON errors (413, 503 with Retry-After), not Django's 400 page or a 500.
        return super().handle_exception(translate(exc))

    def get_queryset(self) -> TaskRecordQuerySet:
        return access.visible_tasks(self.request.user, self._session_key())

    def _session_key(self) -> str | None:
        session = getattr(self.request, "session", None)
        return session.session_key if session else None

    def get_record(self, uuid: Any) -> TaskRecord:
        record = self.get_queryset().filter(uuid=uuid).first()
        if record is None:
            raise NotFound(f"No task {str(uuid)!r}.")
        return recovery.fail_if_stale(record)


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
        tasks = access.own_tasks(request.user, self._session_key())
        name = request.query_params.get("task")
        if name:
            # No task name holds NUL, and PostgreSQL refuses it in a query.
            tasks = tasks.none() if "\x00" in name else tasks.filter(name=name)
        batch = request.query_params.get("batch")
        if batch:
            tasks = tasks.filter(batch__uuid=_uuid_param("batch", batch))
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in TaskStatus.values:
                raise ValidationError(
                    {
                        "status": [
                            f"Unknown status {wanted!r}; "
                            f"choose one of {', '.join(TaskStatus.values)}."
                        ]
                    }
                )
            tasks = tasks.filter(status=wanted)
        page = self.paginate_queryset(tasks.order_by("-created", "-id"))
        return self.get_paginated_response([task_json(record) for record in page or []])

    @extend_schema(
        request=TaskStartSchema,
        responses={
            201: TaskSerializer,
            200: TaskSerializer,
            **error_responses(400, 413, 429, 503),
        },
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request: Request) -> Response:
        task_class, inputs = start_rules.clean_body(request.data)
        key = start_rules.clean_key(request.headers.get("Idempotency-Key", ""), "Idempotency-Key")
        owner = access.owner_fields(request.user, getattr(request, "session", None))
        record, created = start_rules.start(task_class, inputs, owner=owner, idempotency_key=key)
        return Response(
            task_json(record),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": request.build_absolute_uri(f"{record.uuid}/")},
        )


class TaskDetailView(TaskAPIView):
    """One of your tasks."""

    @extend_schema(responses={200: TaskSerializer, **error_responses(404)})
    def get(self, request: Request, uuid: Any) -> Response:
        return Response(TaskSerializer(self.get_record(uuid)).data)


class TaskCancelView(TaskAPIView):
    """Cancel one of your tasks: at once if pending, at its next progress call if running."""

    @extend_schema(
        operation_id="tasks_cancel",
        request=None,
        responses={202: TaskSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request, uuid: Any) -> Response:
        record = self.get_record(uuid)
        if record.is_finished:
            raise TaskFinished(
                f"Task {str(record.uuid)!r} already finished with status {record.status!r}."
            )
        was_pending = record.status == TaskStatus.PENDING
        record = lifecycle.cancel(record)
        if was_pending and record.status == TaskStatus.CANCELLED:
            get_backend().revoke(record)
        return Response(TaskSerializer(record).data, status=status.HTTP_202_ACCEPTED)


class TaskCatalogView(TaskAPIView):
    """The registered tasks with the JSON Schema of their inputs and outputs."""

    pagination_class = None

    @extend_schema(
        operation_id="tasks_catalog",
        responses={200: CatalogEntrySerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "name": name,
                    "description": cls.get_description(),
                    "inputs": cls.input_schema(),
                    "outputs": cls.output_schema(),
                }
                for name, cls in sorted(get_tasks().items())
            ]
        )
