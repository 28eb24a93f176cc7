"""``manage.py task_api_metrics``: serve the Prometheus page on a host without a web
server of the project's (workers only)."""

from __future__ import annotations

from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.management.base import BaseCommand, CommandError, CommandParser

from task_api.conf import task_api_settings
from task_api.metrics import EXTRA, available, multiprocess_dir


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """One line a scrape would be noise."""


class Command(BaseCommand):
    help = (
        "Serve GET /metrics for Prometheus (bearer of TASK_API_METRICS_TOKEN only) with what "
        "the processes of this host counted in PROMETHEUS_MULTIPROC_DIR."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1", help="Address (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=9108, help="Port (default 9108).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not available():
            raise CommandError(f"prometheus-client is not installed: {EXTRA}")
        if not task_api_settings.metrics_token:
            raise CommandError("Set TASK_API_METRICS_TOKEN: the page answers its bearer only.")
        if not multiprocess_dir():
            self.stderr.write(
                "PROMETHEUS_MULTIPROC_DIR is not set: only this process's own counts "
                "(none) and the task table's gauges are served."
            )
        from task_api.metrics.standalone import PATH, application

        server: WSGIServer = make_server(
            options["bind"], options["port"], application, handler_class=_Quiet
        )
        self.stdout.write(f"Serving http://{options['bind']}:{server.server_port}{PATH}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
