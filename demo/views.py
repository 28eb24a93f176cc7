"""The demo page, and the page of a shared run."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


def _engine() -> dict[str, str]:
    """Where tasks run and where they are stored, as shown in the page header."""
    runner = "Celery + Redis" if settings.REDIS_URL else "In-process threads"
    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    database = {"postgresql": "PostgreSQL", "sqlite3": "SQLite"}.get(vendor, vendor)
    return {"runner": runner, "database": database}


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """The page: a form per task from the catalog, and the visitor's runs, live."""
    return render(request, "demo/index.html", {"engine": _engine()})


def share(request: HttpRequest) -> HttpResponse:
    """A shared run, followed without a login: the task and the token are in the URL's
    fragment (``/share/#share=<token>&task=<uuid>``), which no server sees."""
    return render(request, "demo/share.html")
