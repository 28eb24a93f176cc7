"""Lists and dicts, typed or holding any JSON value: every bad item is reported at once,
under its index or key (sizes bounded by ``TASK_API_MAX_LIST_LENGTH`` and
``TASK_API_MAX_DEPTH``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from functools import partial
from typing import Any

from task_api.params.base import (
    Parameter,
    ParameterError,
    _check_int_digits,
    _check_string_limit,
    _error_entry,
    _nesting,
    _show,
    _TooDeep,
)
from task_api.params.numbers import _finite


def _convert_each(
    pairs: Iterable[tuple[Any, object]], convert: Callable[[object], Any]
) -> list[Any]:
    results, errors = [], {}
    for key, item in pairs:
        try:
            results.append(convert(item))
        except _TooDeep:
            raise
        except ParameterError as exc:
            errors[key] = _error_entry(exc)
    if errors:
        raise ParameterError(errors)
    return results


def _convert_items(items: Sequence[object], convert: Callable[[object], Any]) -> list[Any]:
    with _nesting(len(items), "List"):
        return _convert_each(enumerate(items), convert)


def _convert_mapping(
    mapping: Mapping[object, object], convert: Callable[[object], Any]
) -> dict[str, Any]:
    with _nesting(len(mapping), "Dict"):
        for key in mapping:
            if not isinstance(key, str):
                raise ParameterError(f"Dict keys must be strings; got {_show(key)}.")
            _check_string_limit(key)
        return dict(zip(map(str, mapping), _convert_each(mapping.items(), convert), strict=True))


def _json_value(value: object, *, output: bool) -> Any:
    """Check and copy any value JSON can carry; outputs may also use tuples and mappings."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_string_limit(str(value))
    if isinstance(value, int):
        return _check_int_digits(int(value), value)
    if isinstance(value, float):
        return _finite(float(value), value)
    convert = partial(_json_value, output=output)
    if isinstance(value, list) or (output and isinstance(value, tuple)):
        return _convert_items(value, convert)
    if isinstance(value, dict) or (output and isinstance(value, Mapping)):
        return _convert_mapping(value, convert)
    raise ParameterError(f"A JSON value is required; got {_show(value)}.")


def _check_count(name: str, count: int | None) -> None:
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise TypeError(f"{name} must be a non-negative int or None; got {count!r}.")


@dataclass(frozen=True, repr=False)
class ListParameter(Parameter):
    """A list whose items all fit ``inner``; outputs may also be tuples."""

    inner: Parameter
    _: KW_ONLY
    min_items: int | None = None
    max_items: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.inner, Parameter):
            raise TypeError(f"ListParameter needs a Parameter for its items; got {self.inner!r}.")
        _check_count("min_items", self.min_items)
        _check_count("max_items", self.max_items)

    def _parse(self, value: object) -> list[Any]:
        if not isinstance(value, list):
            raise ParameterError(f"A list is required; got {_show(value)}.")
        return _convert_items(self._counted(value), self.inner.to_python)

    def _dump(self, value: object) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ParameterError(f"A list is required; got {_show(value)}.")
        return _convert_items(self._counted(value), self.inner.to_json)

    def _counted(self, items: Sequence[object]) -> Sequence[object]:
        if self.min_items is not None and len(items) < self.min_items:
            problem = f"at least {self.min_items}"
        elif self.max_items is not None and len(items) > self.max_items:
            problem = f"at most {self.max_items}"
        else:
            return items
        raise ParameterError(f"Ensure this list has {problem} items; got {len(items)}.")

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.inner.json_schema()}
        if self.min_items is not None:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


@dataclass(frozen=True, kw_only=True, repr=False)
class DictParameter(Parameter):
    """A dict with string keys; its values fit ``values`` if given, else may be any JSON."""

    values: Parameter | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.values is not None and not isinstance(self.values, Parameter):
            raise TypeError(
                f"DictParameter values must be a Parameter or None; got {self.values!r}."
            )

    def _parse(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ParameterError(f"A dict is required; got {_show(value)}.")
        if self.values is None:
            return _convert_mapping(value, partial(_json_value, output=False))
        return _convert_mapping(value, self.values.to_python)

    def _dump(self, value: object) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ParameterError(f"A dict is required; got {_show(value)}.")
        convert = partial(_json_value, output=True) if self.values is None else self.values.to_json
        return _convert_mapping(value, convert)

    def _schema(self) -> dict[str, Any]:
        inner = True if self.values is None else self.values.json_schema()
        return {"type": "object", "additionalProperties": inner}
