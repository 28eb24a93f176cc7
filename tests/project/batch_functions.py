"""A ``@task`` function that starts children into its own batch."""

from __future__ import annotations

from task_api.batches import start_child
from task_api.compat import task
from tests.project.functions import count


@task
def fan_out(parts: int) -> int:
    """Start ``count`` functions, one per part, in this task's batch."""
    for part in range(parts):
        start_child(None, count, n=part + 1)
    return parts
