"""The ``@task`` function that ``python -m bench.progress_api`` times (Django 6+)."""

from __future__ import annotations

import time

from django.tasks import task


@task
def spin(count: int, mode: str) -> float:
    """Time ``count`` iterations of one kind of call (the body of the ``@task``)."""
    from task_api import progress
    from task_api.progress import _current
    from task_api.tasks import Task

    set_, inc = progress.set, progress.inc
    start = time.perf_counter()
    if mode == "set":
        for i in range(count):
            set_(i)
    elif mode == "inc":
        for _ in range(count):
            inc()
    elif mode == "method":
        task = Task()
        reporter = _current.get()
        if reporter is not None:
            task._reporter = reporter
        for i in range(count):
            task.set_progress(i)
    else:
        for _ in range(count):
            pass
    return time.perf_counter() - start
