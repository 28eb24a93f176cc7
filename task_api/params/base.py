"""The parameter base class, its error, and the limits every parameter shares."""

from __future__ import annotations

import enum
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any, Final

from task_api.conf import task_api_settings

_MAX_INT_DIGITS: Final = 4300  # CPython's default int_max_str_digits, also what json parses
_INT_BOUND: Final = 10**_MAX_INT_DIGITS

_depth: ContextVar[int] = ContextVar("task_api_params_depth", default=0)

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _repr.maxlong = 60


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""The ``default`` of a parameter that has none."""


class ParameterError(ValueError):
    """A value does not fit its parameter: ``detail`` is a message, or for containers a dict
    of index or key to a list of messages (or a nested dict), as in DRF's ``ValidationError``."""

    def __init__(self, detail: str | list[Any] | dict[Any, Any]) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return "; ".join(_flatten(self.detail, ""))


class _TooDeep(ParameterError):
    """Nesting past ``TASK_API_MAX_DEPTH``; reported once, not per item."""


def _flatten(detail: object, path: str) -> Iterator[str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, f"{path}[{key!r}]")
    elif isinstance(detail, list):
        for value in detail:
            yield from _flatten(value, path)
    else:
        yield f"{path}: {detail}" if path else str(detail)


def _error_entry(error: ParameterError) -> list[Any] | dict[Any, Any]:
    """The value of one index or key in a container's nested error detail."""
    return [error.detail] if isinstance(error.detail, str) else error.detail


def _show(value: object) -> str:
    """``repr(value)``, shortened so that error messages stay readable."""
    try:
        return _repr.repr(value)
    except Exception:  # e.g. an int too long for str(), or a broken __repr__
        return f"<{type(value).__name__} object>"


def _check_string_limit(value: str) -> str:
    limit = task_api_settings.max_string_length
    if len(value) > limit:
        raise ParameterError(
            f"String is longer than the limit of {limit} characters "
            f"(TASK_API_MAX_STRING_LENGTH); got {len(value)} characters: {_show(value)}."
        )
    return value


def _digits_error(value: object) -> ParameterError:
    return ParameterError(f"Integer has more than {_MAX_INT_DIGITS} digits; got {_show(value)}.")


def _check_int_digits(number: int, value: object) -> int:
    if not -_INT_BOUND < number < _INT_BOUND:
        raise _digits_error(value)
    return number


@contextmanager
def _nesting(size: int, kind: str) -> Iterator[None]:
    """Enter one list or dict of ``size`` items, enforcing the size and depth limits."""
    limit = task_api_settings.max_list_length
    if size > limit:
        raise ParameterError(
            f"{kind} has more than the limit of {limit} items "
            f"(TASK_API_MAX_LIST_LENGTH); got {size}."
        )
    depth, max_depth = _depth.get() + 1, task_api_settings.max_depth
    if depth > max_depth:
        raise _TooDeep(
            f"Nesting is deeper than the limit of {max_depth} levels (TASK_API_MAX_DEPTH)."
        )
    token = _depth.set(depth)
    try:
        yield
    finally:
        _depth.reset(token)


@dataclass(frozen=True, kw_only=True, repr=False)
class Parameter(ABC):
    """Converts one value between JSON and Python, checks it, and describes it as JSON Schema.

    ``required``: whether an input may be omitted; ``None`` is never a valid value.
    """

    required: bool = True
    default: Any = MISSING
    description: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        if self.required and self.default is not MISSING:
            raise ValueError(
                f"{type(self).__name__} has a default, so it cannot be required; "
                "pass required=False."
            )

    def to_python(self, value: object) -> Any:
        """Convert a JSON input value to Python; raise ``ParameterError`` if it does not fit."""
        if value is None:
            raise ParameterError("This input may not be null.")
        return self._parse(value)

    def to_json(self, value: object) -> Any:
        """Convert a Python output value to JSON; raise ``ParameterError`` if it does not fit."""
        if value is None:
            raise ParameterError("This output may not be null.")
        return self._dump(value)

    def json_schema(self) -> dict[str, Any]:
        """Describe the JSON values accepted, as JSON Schema (draft 2020-12, OpenAPI 3.1)."""
        schema = self._schema()
        if self.title:
            schema["title"] = self.title
        if self.description:
            schema["description"] = self.description
        if self.default is not MISSING:
            schema["default"] = self.to_json(self.default)
        return schema

    @abstractmethod
    def _parse(self, value: object) -> Any:
        """Convert a non-null JSON input value."""

    @abstractmethod
    def _dump(self, value: object) -> Any:
        """Convert a non-null Python output value."""

    @abstractmethod
    def _schema(self) -> dict[str, Any]:
        """The type-specific part of the JSON Schema."""

    def __repr__(self) -> str:
        positional, keywords = [], []
        for field in fields(self):
            value = getattr(self, field.name)
            if not field.kw_only:
                positional.append(repr(value))
            elif value != field.default:
                keywords.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(positional + keywords)})"
