"""Running a task in a test: its outcome, every progress report and message in order, and
the chunks of its streams.

``run(Wait, seconds=3)`` (or ``run(my_function, 3, label="go")``) runs the task in the calling
thread through the worker's own runner, so the record is written as in production; progress
is recorded one report at a time, and nothing is sent to the channel layer. The test needs
the database (``@pytest.mark.django_db``, or ``django.test.TestCase``).
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from django.test import override_settings

from task_api.conf import task_api_settings
from task_api.engine import runner
from task_api.exceptions import UnknownTask
from task_api.functions import RETURN_VALUE, inputs_from_call, is_django_task, task_class_for
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_runnable
from task_api.reporting import Reporter
from task_api.store import streams
from task_api.tasks import Task, _to_json


@dataclass(frozen=True)
class TaskRun:
    """How a task run by :func:`run` ended (``status``; ``outputs`` as JSON, as clients get
    them; ``error`` and ``traceback``), every ``(progress, target)`` it reported, in order, and
    its messages: their values, and the stored ``{"value", "level", "time"}`` entries; and the
    chunks of its streams."""

    status: str
    outputs: dict[str, Any]
    error: dict[str, str] | None
    traceback: str
    progress: list[tuple[int | None, int | None]]
    messages: list[Any]
    message_log: list[dict[str, Any]]
    #: Every chunk of every stream, in order, as stored: ``{"answer": ["The", " answer"]}``.
    streams: dict[str, list[Any]]
    record: TaskRecord = field(repr=False)

    @property
    def return_value(self) -> Any:
        """What a ``@task`` function returned, converted to JSON."""
        if RETURN_VALUE not in self.outputs:
            raise AttributeError(f"{self._name} {self.status} without a return value")
        return self.outputs[RETURN_VALUE]

    def messages_at(self, level: str) -> list[Any]:
        """The values of the messages of one level (``"warning"``), in order."""
        return [entry["value"] for entry in self.message_log if entry["level"] == level]

    def assert_succeeded(self) -> TaskRun:
        """Raise ``AssertionError`` with the task's error and traceback unless it succeeded."""
        return self._expect(TaskStatus.SUCCEEDED)

    def assert_cancelled(self) -> TaskRun:
        """Raise ``AssertionError`` unless the task was cancelled."""
        return self._expect(TaskStatus.CANCELLED)

    def assert_failed(self, error: type[BaseException] | str = "", match: str = "") -> TaskRun:
        """Raise ``AssertionError`` unless the task failed, with ``error`` (a class or its name)
        and a message that ``match`` (a regular expression) is found in."""
        self._expect(TaskStatus.FAILED)
        assert self.error is not None
        wanted = error if isinstance(error, str) else error.__name__
        if (wanted and self.error["type"] != wanted) or not re.search(match, self.error["message"]):
            expected = " ".join(filter(None, [wanted, match and f"matching {match!r}"]))
            raise AssertionError(f"{self._name} failed, expected {expected}{self._why()}")
        return self

    @property
    def _name(self) -> str:
        return f"Task {self.record.name!r}"

    def _expect(self, status: str) -> TaskRun:
        if self.status != status:
            raise AssertionError(f"{self._name} {self.status}, expected {status}{self._why()}")
        return self

    def _why(self) -> str:
        if self.error is None:
            return ""
        return f": {self.error['type']}: {self.error['message']}\n\n{self.traceback}".rstrip()


class _RecordingSink:
    """Takes each change of a reporter as it is reported; may request a cancel."""

    def __init__(self, cancel_after: int | None) -> None:
        self.progress: list[tuple[int | None, int | None]] = []
        self.reports = 0
        self.cancel_after = cancel_after

    def schedule(self, reporter: Reporter) -> None:
        with reporter.lock:
            changes, _entries = reporter.take_changes()
        if changes:
            self.progress.append((changes["progress"], changes["target"]))
        self.reports += 1
        if self.reports == self.cancel_after:  # as a cancel request and the flusher's poll do
            TaskRecord.objects.filter(uuid=reporter.uuid).update(cancel_requested=True)
            reporter.cancel_requested = True

    def forget(self, reporter: Reporter) -> None:
        pass


def run(task: Any, /, *args: Any, cancel_after: int | None = None, **inputs: Any) -> TaskRun:
    """Run ``task`` (a ``Task`` class with keyword inputs, or a ``@task`` function with its
    call's arguments) to its end in this thread; inputs are checked as ``enqueue`` does.

    With ``cancel_after=n`` a cancel is requested after the task's ``n``-th report (a
    progress change or a message; ``0``: before it starts), so it stops at the next one.
    """
    if is_django_task(task):
        task_class: type[Task] = task_class_for(task)
        cleaned = inputs_from_call(task_class, args, inputs)
    elif isinstance(task, type) and issubclass(task, Task) and not args:
        task_class = task
        cleaned = task.clean_inputs({k: _to_json(task.inputs.get(k), v) for k, v in inputs.items()})
    else:
        raise TypeError(f"Expected a Task class and keyword inputs, or a @task function: {task!r}")
    record = TaskRecord.objects.create(
        name=task_class.name,
        inputs=task_class.inputs_to_json(cleaned),
        cancel_requested=cancel_after == 0,
    )
    sink = _RecordingSink(cancel_after)
    with _registered(task_class), override_settings(TASK_API_CHANNEL_LAYER="task_api.testing"):
        execute = functools.partial(runner.execute, record.uuid, background_flush=False, sink=sink)
        retries = 0
        while execute(retries_done=retries).retry_in is not None:  # retried at once, no backoff
            retries += 1
    record.refresh_from_db()
    return TaskRun(
        status=record.status,
        outputs=record.outputs,
        error=record.error,
        traceback=record.traceback,
        progress=sink.progress,
        messages=[entry["value"] for entry in record.messages],
        message_log=record.messages,
        streams={name: streams.read(record.pk, name, 0, 2**62) for name in record.streams},
        record=record,
    )


def _registered(task_class: type[Task]) -> contextlib.AbstractContextManager[Any]:
    """Have the runner find ``task_class`` by its name, registered or not."""
    with contextlib.suppress(UnknownTask):
        if get_runnable(task_class.name) is task_class:
            return contextlib.nullcontext()
    entries = [task_class, *task_api_settings.background_tasks]
    return override_settings(TASK_API_BACKGROUND_TASKS=entries, TASK_API_BACKGROUND_CLASSES=[])


__all__ = ["TaskRun", "run"]
