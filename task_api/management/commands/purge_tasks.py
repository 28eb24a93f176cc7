"""``manage.py purge_tasks``: remove finished tasks older than the retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from task_api.conf import task_api_settings
from task_api.engine.retention import purge_finished


class Command(BaseCommand):
    help = (
        "Remove finished tasks older than TASK_API_RETENTION (or --older-than) and fail stale ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Age of the finished tasks to remove (default: TASK_API_RETENTION).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, but remove nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        age = options["older_than"]
        age = task_api_settings.retention if age is None else age
        removed, stale = purge_finished(age, dry_run=options["dry_run"])
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(
            f"{verb} {removed} finished tasks older than {age:g} s; {stale} stale tasks failed."
        )
