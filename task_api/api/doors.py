"""What every DRF door of the API runs before its handler: DRF's configured classes, read
per request, or a share link in their stead; and the one error mapping."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from task_api.api import access
from task_api.api.errors import to_api
from task_api.engine import sharing
from task_api.engine.policy import Actor
from task_api.exceptions import ShareRefused

SHARE_HEADER = "X-Share-Token"
SHARE_PARAMETER = "share"  # what a plain link, or an EventSource, can send


class Door(APIView):
    """Authentication, permissions and throttles from the settings; the share link that
    the request presents (``X-Share-Token``, or ``?share=``) where the view opens to
    them, in place of the permission classes (the object it opens is checked later)."""

    #: Whether a share token opens the view.
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

    def handle_exception(self, exc: Exception) -> Response:
        # Domain errors, a body over Django's limit, a locked SQLite file, a restarting
        # database: documented JSON errors (400, 409, 413, 429, 503), not a 500.
        response = super().handle_exception(to_api(exc))
        if isinstance(exc, ShareRefused):  # a code the client can tell apart
            response.data = {"detail": str(exc), "code": exc.code}
        return response

    def actor(self) -> Actor:
        """Who is asking, for the access policy, with the share link it presented."""
        return Actor.of(self.request.user, getattr(self.request, "session", None), self.links)
