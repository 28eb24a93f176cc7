"""Strings and booleans."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from task_api.params.base import _INT_BOUND, Parameter, ParameterError, _check_string_limit, _show


@dataclass(frozen=True, kw_only=True, repr=False)
class StringParameter(Parameter):
    """A string, with optional length bounds and a ``pattern`` the whole string must match.

    For compatibility an input number becomes its ``str()``; outputs must be
    strings. ``pattern`` is a Python regular expression applied with
    ``re.fullmatch``; keep it to syntax that JSON Schema (ECMA-262) shares.
    """

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("min_length", "max_length"):
            bound = getattr(self, name)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise TypeError(f"{name} must be an int or None; got {bound!r}.")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"Invalid pattern {self.pattern!r}: {exc}.") from None

    def _parse(self, value: object) -> str:
        return self._dump(_number_text(value))

    def _dump(self, value: object) -> str:
        if not isinstance(value, str):
            raise ParameterError(f"A valid string is required; got {_show(value)}.")
        value = _check_string_limit(str(value))
        if self.min_length is not None and len(value) < self.min_length:
            problem = f"at least {self.min_length}"
        elif self.max_length is not None and len(value) > self.max_length:
            problem = f"at most {self.max_length}"
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ParameterError(
                f"This value does not match the pattern {self.pattern!r}; got {_show(value)}."
            )
        else:
            return value
        raise ParameterError(
            f"Ensure this value has {problem} characters; got {len(value)}: {_show(value)}."
        )

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.min_length is not None:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            # JSON Schema patterns search; anchoring keeps the fullmatch meaning.
            schema["pattern"] = f"^(?:{self.pattern})$"
        return schema


def _number_text(value: object) -> object:
    """The ``str()`` of a number JSON can carry; any other value unchanged."""
    if isinstance(value, float) and math.isfinite(value):
        return str(float(value))
    if isinstance(value, int) and not isinstance(value, bool) and -_INT_BOUND < value < _INT_BOUND:
        return str(int(value))
    return value


@dataclass(frozen=True, kw_only=True, repr=False)
class BooleanParameter(Parameter):
    """A boolean: ``true``/``false``, or those words as strings in any case; never 1 or 0."""

    def _parse(self, value: object) -> bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return self._dump(value)

    def _dump(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise ParameterError(f"A valid boolean is required; got {_show(value)}.")
        return value

    def _schema(self) -> dict[str, Any]:
        return {"type": "boolean"}
