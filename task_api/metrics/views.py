"""``GET /tasks/metrics/``: the Prometheus page (see :mod:`task_api.metrics`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from task_api.metrics import EXTRA, available
from task_api.metrics.access import TEXT, refusal


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """What the processes counted, for a staff user or the bearer of the metrics token."""
    denied = refusal(request, getattr(request, "user", None))
    if denied is not None:
        return denied
    if not available():
        text = f"prometheus-client is not installed: {EXTRA}\n"
        return HttpResponse(text, status=503, content_type=TEXT)
    from task_api.metrics import exposition

    body, content_type = exposition.render(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
