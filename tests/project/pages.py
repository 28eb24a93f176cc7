"""Test pages that drive the browser client, and the static files they load.

Mounted at the root of the test project: ``/pages/<name>/`` renders
``templates/pages/<name>.html``; ``/static/`` serves the apps' static files,
since daphne does not and ``DEBUG`` is off.
"""

from __future__ import annotations

from django.contrib.staticfiles.views import serve
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, re_path

PAGES = frozenset({"lab", "form", "legacy"})


def page(request: HttpRequest, name: str) -> HttpResponse:
    """Render the test page ``name``."""
    if name not in PAGES:
        raise Http404(f"No test page {name!r}.")
    return render(request, f"pages/{name}.html")


urlpatterns = [
    path("pages/<slug:name>/", page, name="test-page"),
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
