"""Integers and floating-point numbers; NaN and infinities are never accepted.

Strings are read the way JSON reads a number: an integer literal becomes an int, one with a
fraction or an exponent a float.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from task_api.params.base import (
    _MAX_INT_DIGITS,
    Parameter,
    ParameterError,
    _check_int_digits,
    _digits_error,
    _show,
)

_INT_LITERAL: Final = re.compile(r"[+-]?\d+", re.ASCII)
# Unambiguous so that matching stays linear on long inputs.
_NUMBER_LITERAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_BOUNDS: Final = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
}
_INT_REQUIRED: Final = "A valid integer is required"
_NUMBER_REQUIRED: Final = "A valid number is required"

_N = TypeVar("_N", int, float)


def _finite(number: float, value: object) -> float:
    if not math.isfinite(number):
        raise ParameterError(f"A finite number is required; got {_show(value)}.")
    return number


def _real(value: object, *, text: bool, required: str) -> int | float:
    """Read an int or a finite float; from a numeric string too if ``text``."""
    if text and isinstance(value, str):
        stripped = value.strip()
        if _INT_LITERAL.fullmatch(stripped):
            if len(stripped.lstrip("+-")) > _MAX_INT_DIGITS:
                raise _digits_error(value)
            return int(stripped)
        if _NUMBER_LITERAL.fullmatch(stripped):
            return _finite(float(stripped), value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{required}; got {_show(value)}.")
    if isinstance(value, float):
        return _finite(float(value), value)
    return _check_int_digits(int(value), value)


def _to_float(number: int | float, value: object) -> float:
    try:
        return _finite(float(number), value)
    except OverflowError:  # an int beyond the float range
        return _finite(math.inf, value)


def _whole(number: int | float, value: object) -> int:
    if isinstance(number, float):
        if not number.is_integer():
            raise ParameterError(f"{_INT_REQUIRED}; got {_show(value)}.")
        return int(number)
    return number


@dataclass(frozen=True, kw_only=True, repr=False)
class _NumberParameterBase(Parameter):
    """Shared bounds of the numeric parameters; all are optional."""

    _json_type: ClassVar[str] = "number"
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in _BOUNDS:
            bound = getattr(self, name)
            real = isinstance(bound, int | float) and not isinstance(bound, bool)
            if bound is not None and not (real and math.isfinite(bound)):
                raise TypeError(f"{name} must be a finite number or None; got {bound!r}.")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum!r} is above maximum {self.maximum!r}.")

    def _in_range(self, number: _N) -> _N:
        if self.minimum is not None and number < self.minimum:
            problem = f"greater than or equal to {self.minimum!r}"
        elif self.maximum is not None and number > self.maximum:
            problem = f"less than or equal to {self.maximum!r}"
        elif self.exclusive_minimum is not None and number <= self.exclusive_minimum:
            problem = f"greater than {self.exclusive_minimum!r}"
        elif self.exclusive_maximum is not None and number >= self.exclusive_maximum:
            problem = f"less than {self.exclusive_maximum!r}"
        else:
            return number
        raise ParameterError(f"Ensure this value is {problem}; got {_show(number)}.")

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self._json_type}
        for name, keyword in _BOUNDS.items():
            bound = getattr(self, name)
            if bound is not None:
                schema[keyword] = bound
        return schema


@dataclass(frozen=True, kw_only=True, repr=False)
class IntParameter(_NumberParameterBase):
    """An integer: from an int, an integral float (``5.0``) or a numeric string (``"6"``);
    never truncates (``5.9`` is an error) nor takes a boolean for 1 or 0."""

    _json_type: ClassVar[str] = "integer"

    def _parse(self, value: object) -> int:
        return self._in_range(_whole(_real(value, text=True, required=_INT_REQUIRED), value))

    def _dump(self, value: object) -> int:
        return self._in_range(_whole(_real(value, text=False, required=_INT_REQUIRED), value))


@dataclass(frozen=True, kw_only=True, repr=False)
class FloatParameter(_NumberParameterBase):
    """A finite float, from an int, a float or a numeric string."""

    def _parse(self, value: object) -> float:
        return self._in_range(_to_float(_real(value, text=True, required=_NUMBER_REQUIRED), value))

    def _dump(self, value: object) -> float:
        return self._in_range(_to_float(_real(value, text=False, required=_NUMBER_REQUIRED), value))


@dataclass(frozen=True, kw_only=True, repr=False)
class NumberParameter(_NumberParameterBase):
    """An int or a finite float, each kept as it is; a numeric string is read as JSON would."""

    def _parse(self, value: object) -> int | float:
        return self._in_range(_real(value, text=True, required=_NUMBER_REQUIRED))

    def _dump(self, value: object) -> int | float:
        return self._in_range(_real(value, text=False, required=_NUMBER_REQUIRED))
