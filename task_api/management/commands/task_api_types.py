"""``manage.py task_api_types``: TypeScript declarations of the registered tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from task_api.registry import get_tasks
from task_api.typescript import declarations, frame_declarations


class Command(BaseCommand):
    help = "Write TypeScript declarations of the registered tasks for the JS client."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            help="Write to this .d.ts file (default: standard output).",
        )
        parser.add_argument(
            "--module",
            default="django-task-api",
            help="The module the client is imported from (default: django-task-api).",
        )
        parser.add_argument(
            "--global",
            dest="global_name",
            nargs="?",
            const="TaskAPI",
            default=None,
            metavar="NAME",
            help="Also declare the global that the <script> build defines (default: TaskAPI).",
        )
        parser.add_argument(
            "--protocol",
            action="store_true",
            help="Write the types of the WebSocket frames instead of the tasks'.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["protocol"]:
            text, what = frame_declarations(), "the WebSocket frames"
        else:
            text = declarations(get_tasks(), options["module"], options["global_name"])
            what = f"{len(get_tasks())} tasks"
        if options["output"]:
            path = Path(options["output"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            self.stderr.write(f"Wrote the types of {what} to {path}.")
        else:
            self.stdout.write(text, ending="")
