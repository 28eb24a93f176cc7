"""One value out of a fixed set."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from task_api.params.base import Parameter, ParameterError, _show

_Scalar: TypeAlias = str | int | float | bool

_SHOWN_CHOICES = 20


_KINDS = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _kind(value: object) -> str | None:
    """The JSON Schema type of a scalar; ``None`` for anything else."""
    return next((kind for cls, kind in _KINDS if isinstance(value, cls)), None)


def _same_kind(a: object, b: object) -> bool:
    numbers = {"integer", "number"}
    return _kind(a) == _kind(b) or {_kind(a), _kind(b)} <= numbers


@dataclass(frozen=True, repr=False)
class ChoiceParameter(Parameter):
    """One of ``choices``, JSON scalars; numbers match by value, ``1`` never matches ``true``."""

    choices: Sequence[_Scalar]

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.choices, str | bytes):
            raise TypeError(f"choices must be a sequence of values; got {self.choices!r}.")
        choices = tuple(self.choices)
        if not choices:
            raise ValueError("ChoiceParameter needs at least one choice.")
        for choice in choices:
            if _kind(choice) is None or (isinstance(choice, float) and not math.isfinite(choice)):
                raise TypeError(
                    f"Choices must be strings, finite numbers or booleans; got {choice!r}."
                )
        object.__setattr__(self, "choices", choices)

    def _parse(self, value: object) -> _Scalar:
        for choice in self.choices:
            if _same_kind(choice, value) and choice == value:
                return choice
        shown = ", ".join(_show(choice) for choice in self.choices[:_SHOWN_CHOICES])
        if len(self.choices) > _SHOWN_CHOICES:
            shown += f", ... ({len(self.choices) - _SHOWN_CHOICES} more)"
        raise ParameterError(
            f"A valid choice is required; got {_show(value)}. Valid choices: {shown}."
        )

    def _dump(self, value: object) -> _Scalar:
        return self._parse(value)

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"enum": list(self.choices)}
        kinds = {_kind(choice) for choice in self.choices}
        if len(kinds) == 1:
            (schema["type"],) = kinds
        elif kinds == {"integer", "number"}:
            schema["type"] = "number"
        return schema
