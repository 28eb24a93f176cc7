"""Parameters from Python type annotations, for the inputs and result of a function task.

    int, float, str, bool            IntParameter, FloatParameter, StringParameter, ...
    list[X], dict[str, X]            ListParameter, DictParameter
    Literal[...], an Enum subclass   ChoiceParameter (an Enum input becomes its member)
    datetime, date                   DateTimeParameter, DateParameter
    X | None                         X, or null
    typing.Any                       any JSON value

Anything else raises ``TypeError`` with a message that names the annotation.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from task_api.params.base import Parameter
from task_api.params.choices import ChoiceParameter
from task_api.params.containers import DictParameter, ListParameter, _json_value
from task_api.params.dates import DateParameter, DateTimeParameter
from task_api.params.numbers import FloatParameter, IntParameter
from task_api.params.scalars import BooleanParameter, StringParameter

_SCALARS: dict[Any, type[Parameter]] = {
    bool: BooleanParameter,
    int: IntParameter,
    float: FloatParameter,
    str: StringParameter,
    datetime: DateTimeParameter,
    date: DateParameter,
}


@dataclass(frozen=True, kw_only=True, repr=False)
class AnyJSONParameter(Parameter):
    """Any JSON value, ``null`` included (within the size limits)."""

    def _parse(self, value: object) -> Any:
        return _json_value(value, output=False)

    def _dump(self, value: object) -> Any:
        return _json_value(value, output=True)

    to_python, to_json = _parse, _dump  # null included

    def _schema(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True, repr=False)
class NullableParameter(Parameter):
    """``inner``'s values, or ``null`` (``X | None``)."""

    inner: Parameter

    def to_python(self, value: object) -> Any:
        return None if value is None else self.inner.to_python(value)

    def to_json(self, value: object) -> Any:
        return None if value is None else self.inner.to_json(value)

    _parse, _dump = to_python, to_json

    def _schema(self) -> dict[str, Any]:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}


@dataclass(frozen=True, kw_only=True, repr=False)
class EnumParameter(ChoiceParameter):
    """One of an ``Enum``'s values; inputs become the member."""

    enum_class: type[enum.Enum]

    def _parse(self, value: object) -> Any:
        if isinstance(value, self.enum_class):
            return value
        return self.enum_class(super()._parse(value))

    def _dump(self, value: object) -> Any:
        if isinstance(value, self.enum_class):
            value = value.value
        return super()._parse(value)


def parameter_for(annotation: Any, *, required: bool = True) -> Parameter:
    """The parameter for a resolved annotation; ``TypeError`` naming it if there is none."""
    if annotation is Any:
        return AnyJSONParameter(required=required)
    if annotation in _SCALARS:
        return _SCALARS[annotation](required=required)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        inner = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        return NullableParameter(inner=parameter_for(inner), required=required)
    if origin is list and len(args) == 1:
        return ListParameter(parameter_for(args[0]), required=required)
    if origin is dict and len(args) == 2 and args[0] is str:
        return DictParameter(values=parameter_for(args[1]), required=required)
    if origin is typing.Literal:
        return ChoiceParameter(args, required=required)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(member.value for member in annotation)
        return EnumParameter(values, enum_class=annotation, required=required)
    raise TypeError(
        f"the annotation {_name(annotation)} has no JSON form; use int, float, str, bool, "
        "list[...], dict[str, ...], Literal[...], an Enum, datetime, date, X | None or Any"
    )


def _name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


__all__ = ["AnyJSONParameter", "EnumParameter", "NullableParameter", "parameter_for"]
