"""A task that starts children into its own batch."""

from __future__ import annotations

from task_api.batches import start_child
from task_api.params import IntParameter
from task_api.tasks import Task


class Spawn(Task):
    """Start ``count`` countdown tasks in this task's batch."""

    name = "spawn"
    inputs = {"count": IntParameter(minimum=0)}
    outputs = {"started": IntParameter()}

    def run(self, count: int) -> int:
        for index in range(count):
            start_child(self, "countdown", count=index + 1)
        return count
