"""Views that enqueue ``@task`` functions for the request's visitor.

``/functions/<name>/?inputs={...}`` enqueues the function with those keyword
arguments and renders a page that watches it; ``&format=json`` answers
``{"id": ...}`` instead; ``&defer=SECONDS`` sets ``run_after``.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

import task_api
from tests.project import functions

FUNCTIONS = {"count": functions.count, "stubborn": functions.stubborn}


def enqueue(request: HttpRequest, name: str) -> HttpResponse:
    """Enqueue the function ``name`` for this visitor, then watch it."""
    if name not in FUNCTIONS:
        raise Http404(f"No function {name!r}.")
    inputs = json.loads(request.GET.get("inputs", "{}"))
    function = FUNCTIONS[name]
    if "defer" in request.GET:  # seconds from now
        later = timezone.now() + timedelta(seconds=float(request.GET["defer"]))
        function = function.using(run_after=later)
    with task_api.enqueued_by(request):
        result = function.enqueue(**inputs)
    if request.GET.get("format") == "json":
        return JsonResponse({"id": result.id})
    return render(request, "pages/function.html", {"result": result})


urlpatterns = [path("functions/<slug:name>/", enqueue, name="enqueue-function")]
