"""A ``django.tasks`` backend whose results are task records (Django 6, or on Django 5.2
the ``django-tasks`` backport, see :mod:`task_api.compat`)::

    TASKS = {"default": {"BACKEND": "task_api.backends.django_tasks.TaskAPIBackend"}}

``OPTIONS`` may give the app's settings (a ``TASK_API_*`` setting wins over its option).
``@task`` functions run on the ``TASK_API_BACKEND`` engine like class tasks; ``TaskResult.id``
is the record's uuid, and a cancelled task is ``FAILED`` with ``Cancelled`` as its error.
Django's ``task_enqueued``, ``task_started`` and ``task_finished`` are sent by receivers of
:mod:`task_api.signals`, in the process that made the change.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Sequence
from typing import Any, ParamSpec, TypeVar, cast

from django.core.checks import CheckMessage, Error

from task_api import signals
from task_api.compat import (
    BaseTaskBackend,
    InvalidTask,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from task_api.compat import Task as DjangoTask
from task_api.compat import signals as django_signals
from task_api.conf import TaskAPISettings
from task_api.engine import service
from task_api.engine.dispatch import get_backend
from task_api.exceptions import ConfigurationError
from task_api.functions import FunctionTask, inputs_from_call, task_class_for
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_runnable

_STATUSES = {
    TaskStatus.PENDING: TaskResultStatus.READY,
    TaskStatus.RUNNING: TaskResultStatus.RUNNING,
    TaskStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    TaskStatus.FAILED: TaskResultStatus.FAILED,
    TaskStatus.CANCELLED: TaskResultStatus.FAILED,
}
#: The record does not keep which worker ran an attempt; each one is named so.
_WORKER_ID = "task_api"

P = ParamSpec("P")
R = TypeVar("R")


class TaskAPIBackend(BaseTaskBackend):
    """Runs ``@task`` functions as task records on the ``TASK_API_BACKEND`` engine."""

    supports_get_result = True
    supports_async_task = True

    @property
    def supports_defer(self) -> bool:  # type: ignore[override]  # read by validate_task
        """Only an engine with a queue can hold a task until ``run_after`` (Celery's ``eta``)."""
        try:
            return get_backend().supports_defer
        except ConfigurationError:  # reported by the check task_api.E004
            return False

    def validate_task(self, task: DjangoTask[..., Any]) -> None:
        super().validate_task(task)
        try:
            task_class_for(task)
        except ConfigurationError as exc:
            raise InvalidTask(str(exc)) from exc

    def enqueue(
        self, task: DjangoTask[P, R], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> TaskResult[P, R]:
        """Start the task through the service (``aenqueue`` is Django's: this, in a thread)."""
        self.validate_task(task)
        inputs = inputs_from_call(task_class_for(task), tuple(args), kwargs)
        record, _created = service.start(task, inputs, run_after=task.run_after)
        return cast("TaskResult[P, R]", result_from_record(record, task=task, alias=self.alias))

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        """The result of a function task's record; ``TaskResultDoesNotExist`` for anything else."""
        try:
            uuid = uuid_lib.UUID(str(result_id))
        except ValueError:
            raise TaskResultDoesNotExist(f"{result_id!r} is not a task id.") from None
        if (record := TaskRecord.objects.filter(uuid=uuid).first()) is None:
            raise TaskResultDoesNotExist(f"No task has the id {result_id!r}.")
        return result_from_record(record, alias=self.alias)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        """``OPTIONS`` may carry the settings, by their lower-case names without ``TASK_API_``."""
        known = [name for setting in TaskAPISettings.all() for name in setting.options]
        if not (unknown := sorted(set(self.options) - set(known))):
            return []
        return [
            Error(
                f"TASKS[{self.alias!r}] has OPTIONS {unknown} that TaskAPIBackend does not know; "
                f"it knows {', '.join(known)}.",
                obj=self.alias,
                id="task_api.E007",
            )
        ]


def result_from_record(
    record: TaskRecord, *, task: DjangoTask[..., Any] | None = None, alias: str | None = None
) -> TaskResult[..., Any]:
    """Django's ``TaskResult`` for a function task's record."""
    if task is None:
        try:
            task_class = get_runnable(record.name)
        except Exception:
            task_class = None
        if task_class is None or not issubclass(task_class, FunctionTask):
            raise TaskResultDoesNotExist(f"Task {record.uuid} is not a @task function.")
        task = task_class.django_task
    status = _STATUSES[TaskStatus(record.status)]
    result: TaskResult[..., Any] = TaskResult(
        task=task,
        id=str(record.uuid),
        status=status,
        enqueued_at=record.created,
        started_at=record.started,
        finished_at=record.finished,
        last_attempted_at=record.started,
        args=[],
        kwargs=dict(record.inputs),
        backend=alias or _alias(),
        errors=_errors(record),
        worker_ids=[_WORKER_ID] * record.attempt,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", (record.outputs or {}).get("return_value"))
    return result


def context_for(task: DjangoTask[..., Any], uuid: Any) -> TaskContext[..., Any]:
    """The ``context`` argument of a ``takes_context=True`` function, for the record ``uuid``."""
    record = TaskRecord.objects.get(uuid=uuid)
    return TaskContext(task_result=result_from_record(record, task=task))


def _errors(record: TaskRecord) -> list[TaskError]:
    error = record.error or {}
    if record.status == TaskStatus.CANCELLED:
        message = error.get("message", "The task was cancelled.")
        return [TaskError(exception_class_path="task_api.exceptions.Cancelled", traceback=message)]
    if record.status != TaskStatus.FAILED:
        return []
    path = _exception_path(record.traceback, error.get("type", "Exception"))
    text = record.traceback or f"{error.get('type')}: {error.get('message')}"
    return [TaskError(exception_class_path=path, traceback=text)]


def _exception_path(traceback: str, type_name: str) -> str:
    """The exception's dotted path, from the last line of its formatted traceback."""
    lines = [line for line in traceback.splitlines() if line and not line.startswith(" ")]
    head = lines[-1].split(":", 1)[0] if lines else type_name
    if "." not in head:
        head = {"TaskTimeout": "task_api.exceptions.TaskTimeout"}.get(head, f"builtins.{head}")
    return head


def _alias() -> str:
    for alias in task_backends.settings:
        if isinstance(task_backends[alias], TaskAPIBackend):
            return str(alias)
    return "default"


def _forward(signal: Any) -> Any:
    def receiver(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
        try:
            result = result_from_record(record)
        except TaskResultDoesNotExist:
            return  # a class task
        signal.send(TaskAPIBackend, task_result=result)

    return receiver


for _name in ("task_enqueued", "task_started", "task_finished"):
    _receiver = _forward(getattr(django_signals, _name))  # kept alive by weak=False
    getattr(signals, _name).connect(_receiver, weak=False, dispatch_uid=f"task_api.{_name}")
