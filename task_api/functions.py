"""Function tasks: a Django ``@task`` function run by the same engine as ``Task`` classes.

:func:`task_class_for` makes a ``Task`` subclass of it, named by the function's module path
(``myapp.tasks.resize``), with inputs from its annotations and one output, ``return_value``;
everything else then treats it like any class task. Its body reports through
:mod:`task_api.progress`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from task_api import progress
from task_api.exceptions import ConfigurationError, InputErrors
from task_api.params import Parameter, ParameterError
from task_api.params.annotations import parameter_for
from task_api.params.base import _error_entry
from task_api.tasks import Task

#: The single output of a function task, named after ``TaskResult.return_value``.
RETURN_VALUE = "return_value"


class SignatureError(ConfigurationError):
    """A task function has a parameter or annotation that has no JSON form."""


class FunctionTask(Task):
    """Base of the generated classes; runs ``django_task`` with the stored inputs."""

    #: The ``Task`` (of ``django.tasks`` or its backport) this class runs.
    django_task: ClassVar[Any]
    #: The defaults of the function's parameters.
    defaults: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def input_defaults(cls) -> dict[str, Any]:
        return dict(cls.defaults)

    def run(self, **inputs: Any) -> Any:
        task = type(self).django_task
        with progress.reporting_to(self._reporter):
            if task.takes_context:
                return task.call(_context_for(task, self._reporter.uuid), **inputs)
            return task.call(**inputs)


#: Builds Django's ``TaskContext`` for a record (set by the ``django.tasks`` backend).
_context_for: Any = None


def use_context_factory(factory: Any) -> None:
    """Have ``takes_context=True`` functions receive ``factory(task, uuid)``."""
    global _context_for
    _context_for = factory


_classes: dict[Any, type[FunctionTask]] = {}


def django_tasks_available() -> bool:
    """Whether Django's task framework is there (Django 6, or the ``django-tasks`` backport)."""
    try:
        import task_api.compat  # noqa: F401
    except ImportError:
        return False
    return True


def is_django_task(obj: object) -> bool:
    """Whether ``obj`` is a ``@task`` function (``False`` without the task framework)."""
    try:
        from task_api.compat import Task as DjangoTask
    except ImportError:
        return False
    return isinstance(obj, DjangoTask)


def task_class_for(django_task: Any) -> type[FunctionTask]:
    """The generated ``Task`` class of a ``@task`` function (one per function)."""
    func = django_task.func
    cls = _classes.get(func)
    if cls is None or cls.django_task.takes_context != django_task.takes_context:
        inputs, defaults, result = _signature(django_task)
        cls = type(
            func.__name__,
            (FunctionTask,),
            {
                "__module__": func.__module__,
                "__qualname__": func.__qualname__,
                "__doc__": inspect.getdoc(func) or "",
                "name": django_task.module_path,
                "inputs": inputs,
                "outputs": {RETURN_VALUE: result},
                "defaults": defaults,
                "django_task": django_task,
            },
        )
        _classes[func] = cls
    return cls


def inputs_from_call(
    cls: type[Task], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON inputs of ``task.enqueue(*args, **kwargs)``; ``InputErrors`` lists problems."""
    signature = inspect.signature(cls.django_task.func)  # type: ignore[attr-defined]
    if cls.django_task.takes_context:  # type: ignore[attr-defined]
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InputErrors({"non_field_errors": [str(exc)]}) from None
    as_json: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        try:
            as_json[key] = cls.inputs[key].to_json(value)
        except ParameterError as exc:
            errors[key] = _error_entry(exc)
    if errors:
        raise InputErrors(errors)
    return as_json


def _signature(django_task: Any) -> tuple[dict[str, Parameter], dict[str, Any], Parameter]:
    func = django_task.func
    where = django_task.module_path
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise SignatureError(f"Cannot resolve the annotations of {where}: {exc}") from exc
    parameters = list(inspect.signature(func).parameters.values())
    if django_task.takes_context:
        parameters = parameters[1:]
    inputs: dict[str, Parameter] = {}
    defaults: dict[str, Any] = {}
    for param in parameters:
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise SignatureError(
                f"{where}: parameter {param.name!r} is {param.kind.description}; "
                "task functions take named parameters only."
            )
        has_default = param.default is not inspect.Parameter.empty
        if has_default:
            defaults[param.name] = param.default
        try:
            inputs[param.name] = parameter_for(hints.get(param.name, Any), required=not has_default)
        except TypeError as exc:
            raise SignatureError(f"{where}: parameter {param.name!r}: {exc}.") from exc
    returns = hints.get("return", Any)
    if returns is None or returns is type(None):
        returns = Any
    try:
        result = parameter_for(returns)
    except TypeError as exc:
        raise SignatureError(f"{where}: return value: {exc}.") from exc
    return inputs, defaults, result


def unannotated(cls: type[FunctionTask]) -> list[str]:
    """The parameters of a function task that have no annotation."""
    hints = typing.get_type_hints(cls.django_task.func)
    return [name for name in cls.inputs if name not in hints]


__all__ = ["RETURN_VALUE", "FunctionTask", "SignatureError", "task_class_for"]
