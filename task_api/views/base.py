"""The base of every REST view: DRF's configured classes, and the one error mapping."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from task_api.api import access
from task_api.api.errors import to_api
from task_api.api.parsers import LimitedJSONParser
from task_api.api.renderers import SafeJSONRenderer
from task_api.api.serializers import TaskSerializer
from task_api.conf import task_api_settings
from task_api.engine import policy, recovery, sharing
from task_api.engine.policy import Actor, get_policy
from task_api.exceptions import ShareRefused
from task_api.models import TaskRecord, TaskRecordQuerySet

SHARE_HEADER = "X-Share-Token"
SHARE_PARAMETER = "share"


class TaskPagination(PageNumberPagination):
    """Pages of ``TASK_API_PAGE_SIZE`` tasks; ``?page_size=`` up to 200."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        self.page_size = task_api_settings.page_size
        return super().get_page_size(request)


class TaskAPIView(GenericAPIView[TaskRecord]):
    """Base view: authentication, permissions and throttles from the settings, read per request."""

    parser_classes = [LimitedJSONParser]
    serializer_class = TaskSerializer
    # Set here so that the OpenAPI document works whatever DEFAULT_SCHEMA_CLASS says.
    schema = AutoSchema()
    #: Whether a share token (``X-Share-Token`` header, or ``?share=``) opens the view: it
    #: then takes the place of the permission classes, and the object it opens is checked.
    opens_to_share_links = False
    links: tuple[Any, ...] = ()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        token = request.headers.get(SHARE_HEADER) or request.query_params.get(SHARE_PARAMETER)
        if token and self.opens_to_share_links:
            self.links = (sharing.resolve(token),)
        super().initial(request, *args, **kwargs)

    def get_authenticators(self) -> list[Any]:
        return access.authenticators()

    def get_permissions(self) -> list[Any]:
        return [] if self.links else access.permissions()

    def get_throttles(self) -> list[Any]:
        return access.throttles()

    def get_renderers(self) -> list[Any]:
        # Stored text that is not valid Unicode must not turn a read into a 500.
        return [
            SafeJSONRenderer() if type(r) is JSONRenderer else r for r in super().get_renderers()
        ]

    def handle_exception(self, exc: Exception) -> Response:
        # Domain errors, a body over Django's limit, a locked SQLite file, a restarting
        # database: documented JSON errors (400, 409, 413, 429, 503), not a 500.
        response = super().handle_exception(to_api(exc))
        if isinstance(exc, ShareRefused):  # a code the client can tell apart
            response.data = {"detail": str(exc), "code": exc.code}
        return response

    def get_queryset(self) -> TaskRecordQuerySet:
        return get_policy().visible(self.actor(), TaskRecord.objects.all())

    def actor(self) -> Actor:
        """Who is asking, for the access policy, with the share link it presented."""
        return Actor.of(self.request.user, getattr(self.request, "session", None), self.links)

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
