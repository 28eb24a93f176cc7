"""The base of every REST view: DRF's configured authentication and permissions."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from task_api.api.errors import translate
from task_api.api.parsers import LimitedJSONParser
from task_api.api.renderers import SafeJSONRenderer
from task_api.api.serializers import TaskSerializer
from task_api.conf import task_api_settings
from task_api.engine import recovery
from task_api.engine.policy import Actor, get_policy
from task_api.models import TaskRecord, TaskRecordQuerySet


def _classes(configured: Sequence[Any] | None, default: Sequence[Any]) -> tuple[Any, ...]:
    return _imported(tuple(default if configured is None else configured))


@functools.cache
def _imported(entries: tuple[Any, ...]) -> tuple[Any, ...]:
    """The classes of dotted paths or classes, imported once per list."""
    return tuple(import_string(entry) if isinstance(entry, str) else entry for entry in entries)


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
        return get_policy().visible(self.actor(), TaskRecord.objects.all())

    def actor(self) -> Actor:
        """Who is asking, for the access policy."""
        return Actor.of(self.request.user, getattr(self.request, "session", None))

    def get_record(self, uuid: Any) -> TaskRecord:
        record = self.get_queryset().filter(uuid=uuid).first()
        if record is None:
            raise NotFound(f"No task {str(uuid)!r}.")
        return recovery.fail_if_stale(record)
