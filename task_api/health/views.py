"""``GET /tasks/health/``: 200 when the app is ready, else 503 (see :mod:`task_api.health`).

Load balancers and orchestrators call it without credentials: they get what failed;
a staff user or the bearer of ``TASK_API_METRICS_TOKEN`` gets the errors too.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from task_api.health import readiness
from task_api.metrics import access


@never_cache
@require_safe
async def health(request: HttpRequest) -> HttpResponse:
    """The readiness report: 200 if every check passed, else 503."""
    report = await readiness.check()
    details = report.ok or access.has_token(request) or access.is_staff(await _user(request))
    status = 200 if report.ok else 503
    return JsonResponse(report.as_json(details=details), status=status)


async def _user(request: HttpRequest) -> Any:
    """The request's user, or ``None`` (no session middleware, or its database is away)."""
    try:
        return await request.auser()
    except Exception:
        return None
