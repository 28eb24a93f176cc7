"""The ``Task`` base class that users subclass."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from task_api.exceptions import Cancelled, ConfigurationError, InputErrors, OutputError, TaskTimeout
from task_api.params import MISSING, Parameter, ParameterError
from task_api.params.base import _error_entry
from task_api.reporting import Reporter


class Engine(Protocol):
    """What starts tasks from code: the engine's service, set when the app loads."""

    def enqueue(self, task_class: type[Task], inputs: dict[str, Any], *, user: Any) -> Any:
        """Check and start ``task_class`` with JSON ``inputs``; returns its record."""


_engine: Engine | None = None


def use_engine(engine: Engine) -> None:
    """Have ``Task.enqueue`` start tasks through ``engine`` (``TaskAPIConfig.ready``)."""
    global _engine
    _engine = engine


class Task:
    """A background task with typed inputs and outputs.

    Subclasses set ``name``, ``inputs`` and ``outputs`` and implement ``run(self, **inputs)``.
    Optional inputs take their default from ``run``'s signature (or the parameter's ``default``).
    """

    name: ClassVar[str]
    inputs: ClassVar[Mapping[str, Parameter]] = {}
    outputs: ClassVar[Mapping[str, Parameter]] = {}
    #: The streams the task writes, with the type of their chunks (for the catalog and the
    #: TypeScript declarations; chunks are not checked one by one). Others may be written too.
    streams: ClassVar[Mapping[str, Parameter]] = {}
    description: ClassVar[str] = ""
    #: What pages call the task (default: its name's last dotted part, humanized).
    title: ClassVar[str] = ""
    #: Seconds after which the task is stopped and fails; ``None`` uses the setting.
    time_limit: ClassVar[float | None] = None
    #: Seconds after which ``TaskTimeout`` is raised inside the task.
    soft_time_limit: ClassVar[float | None] = None
    #: Exceptions after which the task is tried again, with exponential backoff.
    retry_on: ClassVar[tuple[type[BaseException], ...]] = ()
    max_retries: ClassVar[int] = 3
    retry_backoff: ClassVar[float] = 1.0
    #: Whether running the task twice is harmless, so a task whose worker died is run again.
    retry_safe: ClassVar[bool] = False

    _reporter: Reporter
    #: Which run of this task this is: 1, then 2 and more after retries.
    attempt: int = 1

    def __init__(self) -> None:
        self._reporter = Reporter.detached()

    def run(self, **inputs: Any) -> Any:
        """Do the work; return the single output, or a dict of several outputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    # -- progress, messages and streams (hot path: no I/O here) ------------------------------

    def set_target(self, target: int) -> None:
        """Set the value that ``progress`` counts towards."""
        reporter = self._reporter
        reporter.target = target if type(target) is int else int(target)
        reporter.touch()

    def set_progress(self, progress: int) -> None:
        """Set the progress; pushed to watchers, coalesced."""
        reporter = self._reporter
        reporter.progress = progress if type(progress) is int else int(progress)
        if not reporter.dirty:
            reporter.touch()

    def inc_progress(self, amount: int = 1) -> None:
        """Add ``amount`` to the progress (which starts at 0)."""
        reporter = self._reporter
        reporter.progress = (reporter.progress or 0) + (
            amount if type(amount) is int else int(amount)
        )
        if not reporter.dirty:
            reporter.touch()

    def add_message(self, value: Any, level: str = "info") -> None:
        """Add a message (any JSON value, usually a string) for the watchers."""
        self._reporter.add_message(value, level)

    def write(self, chunk: Any, stream: str = "output") -> None:
        """Append ``chunk`` (text, or any JSON value) to one of the task's streams: stored
        in order with a position, pushed to its watchers, coalesced like progress. Raises
        ``StreamLimitExceeded`` past the ``TASK_API_MAX_*`` stream limits."""
        self._reporter.write(chunk, stream)

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` (or ``TaskTimeout``) if the task should stop now."""
        self._reporter.check()

    @property
    def cancel_requested(self) -> bool:
        """Whether somebody asked to cancel this task."""
        return self._reporter.cancel_requested

    @classmethod
    def enqueue(cls, *, user: Any = None, **inputs: Any) -> Any:
        """Start this task from code, as ``POST /tasks/`` would; returns its ``TaskRecord``.

        Inputs are checked like the API's (``InputErrors``); the task must be registered (workers
        look it up by name); it belongs to ``user``, else to the ``enqueued_by(...)`` owner.
        """
        if _engine is None:
            raise ConfigurationError("Add 'task_api' to INSTALLED_APPS to start tasks.")
        as_json = {key: _to_json(cls.inputs.get(key), value) for key, value in inputs.items()}
        return _engine.enqueue(cls, as_json, user=user)

    @classmethod
    def get_description(cls) -> str:
        """The description, or the first paragraph of the docstring."""
        if cls.description or not cls.__doc__:
            return cls.description
        return (inspect.getdoc(cls) or "").split("\n\n")[0].strip()

    @classmethod
    def get_title(cls) -> str:
        """The title, or the name's last dotted part humanized: ``word-stats`` is "Word stats"."""
        if cls.title:
            return cls.title
        words = re.sub(r"[-_\s]+", " ", cls.name.rsplit(".", 1)[-1]).strip()
        return words[:1].upper() + words[1:]

    @classmethod
    def input_defaults(cls) -> dict[str, Any]:
        """Defaults of the optional inputs, from the parameters then ``run``'s signature."""
        defaults = _defaults_cache.get(cls)
        if defaults is None:
            signature = inspect.signature(cls.run).parameters
            defaults = {}
            for key, param in cls.inputs.items():
                if param.default is not MISSING:
                    defaults[key] = param.default
                elif key in signature and signature[key].default is not inspect.Parameter.empty:
                    defaults[key] = signature[key].default
            _defaults_cache[cls] = defaults
        return defaults

    @classmethod
    def clean_inputs(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Convert JSON inputs to Python values, raising ``InputErrors`` with every problem."""
        errors: dict[str, Any] = {}
        cleaned: dict[str, Any] = {}
        for key in data:
            if key not in cls.inputs:
                known = ", ".join(sorted(cls.inputs)) or "none"
                errors[key] = [f"Unexpected input {key!r}; known inputs: {known}."]
        for key, param in cls.inputs.items():
            if key not in data:
                if param.required:
                    errors[key] = ["This input is required."]
                continue
            try:
                cleaned[key] = param.to_python(data[key])
            except ParameterError as exc:
                errors[key] = _error_entry(exc)
        if errors:
            raise InputErrors(errors)
        return cleaned

    @classmethod
    def inputs_to_json(cls, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Convert cleaned inputs back to JSON, to store them."""
        return {key: cls.inputs[key].to_json(value) for key, value in inputs.items()}

    @classmethod
    def inputs_from_json(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Turn stored inputs into the keyword arguments of ``run``."""
        kwargs = {key: cls.inputs[key].to_python(value) for key, value in data.items()}
        for key, value in cls.input_defaults().items():
            kwargs.setdefault(key, value)
        return kwargs

    @classmethod
    def outputs_to_json(cls, result: Any) -> dict[str, Any]:
        """Check what ``run`` returned against ``outputs`` and convert it to JSON."""
        declared = cls.outputs
        if not declared:
            return {}
        if len(declared) == 1:
            (key,) = declared
            values = {key: result}
        elif isinstance(result, Mapping):
            values = dict(result)
        else:
            raise OutputError(
                f"Task {cls.name!r} declares outputs {sorted(declared)} and must return a dict; "
                f"got {type(result).__name__}."
            )
        missing = sorted(set(declared) - set(values))
        extra = sorted(set(values) - set(declared), key=str)
        problems = [f"missing outputs {missing}"] if missing else []
        if extra:
            problems.append(f"unexpected outputs {extra}")
        converted: dict[str, Any] = {}
        for key in [key for key in declared if key in values]:
            try:
                converted[key] = declared[key].to_json(values[key])
            except ParameterError as exc:
                problems.append(f"output {key!r}: {exc}")
        if problems:
            raise OutputError(f"Task {cls.name!r} returned bad outputs: " + "; ".join(problems))
        return converted

    @classmethod
    def input_schema(cls) -> dict[str, Any]:
        """The inputs as a JSON Schema object."""
        defaults = cls.input_defaults()
        properties = {}
        for key, param in cls.inputs.items():
            schema = param.json_schema()
            if key in defaults and "default" not in schema:
                with contextlib.suppress(ParameterError):  # a default that is no JSON value
                    schema["default"] = param.to_json(defaults[key])
            properties[key] = schema
        required = [key for key, param in cls.inputs.items() if param.required]
        return _object_schema(properties, required)

    @classmethod
    def output_schema(cls) -> dict[str, Any]:
        """The outputs as a JSON Schema object."""
        properties = {key: param.json_schema() for key, param in cls.outputs.items()}
        return _object_schema(properties, list(cls.outputs))

    @classmethod
    def stream_schema(cls) -> dict[str, Any]:
        """The declared streams: the JSON Schema of one chunk of each, by name."""
        return {key: param.json_schema() for key, param in cls.streams.items()}


def _object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {**schema, "required": required} if required else schema


_defaults_cache: dict[type[Task], dict[str, Any]] = {}


def _to_json(param: Parameter | None, value: Any) -> Any:
    """A Python input as JSON, or as given when it does not fit (``clean_inputs`` says why)."""
    if param is None:
        return value
    try:
        return param.to_json(value)
    except ParameterError:
        return value


__all__ = ["Cancelled", "InputErrors", "Task", "TaskTimeout"]
