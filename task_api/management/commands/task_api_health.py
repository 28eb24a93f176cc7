"""``manage.py task_api_health``: the readiness check, exit code 0 (ready) or 1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from task_api.health import readiness


class Command(BaseCommand):
    help = (
        "Check the database, the broker, the channel layer and the workers; "
        "exit with 1 if one of them failed."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="How long each check may take (default: TASK_API_HEALTH_TIMEOUT).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = asyncio.run(readiness.check(options["timeout"]))
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json()))
        else:
            for name, value in report.as_json().items():
                self.stdout.write(f"{name}: {value}")
        if not report.ok:
            raise CommandError(f"Not ready: {', '.join(report.failed)}", returncode=1)
