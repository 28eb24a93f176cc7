"""Who may read the operations pages (the metrics, the health check's details): a staff
user's session, or the bearer token of ``TASK_API_METRICS_TOKEN``. Metrics name the tasks
and the failures, so nobody else may."""

from __future__ import annotations

import hmac
from typing import Any

from django.http import HttpRequest, HttpResponse

from task_api.conf import task_api_settings

TEXT = "text/plain; charset=utf-8"


def has_token(request: HttpRequest) -> bool:
    """Whether the request carries ``Authorization: Bearer <TASK_API_METRICS_TOKEN>``."""
    return bearer_matches(request.headers.get("Authorization", ""))


def bearer_matches(authorization: str) -> bool:
    """Whether an ``Authorization`` header's value is ``Bearer <TASK_API_METRICS_TOKEN>``."""
    token = task_api_settings.metrics_token
    scheme, _, given = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_staff(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.is_staff)


def refusal(request: HttpRequest, user: Any) -> HttpResponse | None:
    """``None`` if the token or ``user`` (the request's) may read; else 401 or 403."""
    if has_token(request) or is_staff(user):
        return None
    if "Authorization" in request.headers or getattr(user, "is_authenticated", False):
        return HttpResponse("Staff or the metrics token only.\n", status=403, content_type=TEXT)
    response = HttpResponse(
        "Log in as staff or send the metrics token.\n", status=401, content_type=TEXT
    )
    response["WWW-Authenticate"] = 'Bearer realm="task_api"'
    return response
