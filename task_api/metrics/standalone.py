"""The Prometheus page served without a web server of the project's: for a host that runs
only Celery workers (``manage.py task_api_metrics``). It answers the bearer of the metrics
token only, with what every process of the host counted (``PROMETHEUS_MULTIPROC_DIR``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import close_old_connections

from task_api.metrics import exposition
from task_api.metrics.access import TEXT, bearer_matches

PATH = "/metrics"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI application: ``GET /metrics`` with the token; 401, 404 or 405 otherwise."""
    if environ.get("PATH_INFO") != PATH:
        return _answer(start_response, "404 Not Found", b"Only /metrics is served here.\n")
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return _answer(start_response, "405 Method Not Allowed", b"GET only.\n")
    if not bearer_matches(environ.get("HTTP_AUTHORIZATION", "")):
        headers = [("WWW-Authenticate", 'Bearer realm="task_api"')]
        return _answer(start_response, "401 Unauthorized", b"Send the metrics token.\n", headers)
    close_old_connections()  # the task table's gauges query the database
    try:
        body, content_type = exposition.render(environ.get("HTTP_ACCEPT"))
    finally:
        close_old_connections()
    start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-cache")])
    return [body]


def _answer(
    start_response: StartResponse,
    status: str,
    text: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(status, [("Content-Type", TEXT), *(headers or [])])
    return [text]
