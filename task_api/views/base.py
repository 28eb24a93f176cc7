"""The base of every REST view: DRF's configured classes, and the one error mapping."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from task_api.api.doors import Door
from task_api.api.parsers import LimitedJSONParser
from task_api.api.renderers import SafeJSONRenderer
from task_api.api.serializers import TaskSerializer
from task_api.conf import task_api_settings
from task_api.engine import policy, recovery
from task_api.engine.policy import get_policy
from task_api.models import TaskRecord, TaskRecordQuerySet


class TaskPagination(PageNumberPagination):
    """Pages of ``TASK_API_PAGE_SIZE`` tasks; ``?page_size=`` up to 200."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        self.page_size = task_api_settings.page_size
        return super().get_page_size(request)


class TaskAPIView(Door, GenericAPIView[TaskRecord]):
    """Base view: authentication, permissions and throttles from the settings, read per
    request, or a share link where the view opens to them (:class:`~task_api.api.doors.Door`)."""

    parser_classes = [LimitedJSONParser]
    serializer_class = TaskSerializer
    # Set here so that the OpenAPI document works whatever DEFAULT_SCHEMA_CLASS says.
    schema = AutoSchema()

    def get_renderers(self) -> list[Any]:
        # Stored text that is not valid Unicode must not turn a read into a 500.
        return [
            SafeJSONRenderer() if type(r) is JSONRenderer else r for r in super().get_renderers()
        ]

    def get_queryset(self) -> TaskRecordQuerySet:
        return get_policy().visible(self.actor(), TaskRecord.objects.all())

    def check_cancel(self, obj: Any) -> Any:
        """``obj`` if the access policy lets the caller cancel it; 403 otherwise."""
        if not policy.can_cancel(self.actor(), obj):
            raise PermissionDenied(
                f"You may not cancel {obj._meta.verbose_name} {str(obj.uuid)!r}."
            )
        return obj

    def get_record(self, uuid: Any) -> TaskRecord:
        """The task ``uuid`` if the access policy lets the caller see it; 404 otherwise."""
        record = self.readable(TaskRecord.objects.filter(uuid=uuid).first())
        if record is None:
            raise NotFound(f"No task {str(uuid)!r}.")
        return recovery.fail_if_stale(record)

    def readable(self, obj: Any) -> Any:
        """``obj`` if the access policy lets the caller see it (the WebSocket's rule), else
        ``None``."""
        return obj if obj is not None and policy.can_see(self.actor(), obj) else None
