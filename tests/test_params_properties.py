"""Properties of the typed parameters, checked on generated values."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_api.params import (
    BooleanParameter,
    ChoiceParameter,
    DateParameter,
    DateTimeParameter,
    DictParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    NumberParameter,
    Parameter,
    ParameterError,
    StringParameter,
)

CHOICES = ChoiceParameter(["a", "b", 0, 1, 2.5, True])

PARAMETERS = [
    StringParameter(),
    StringParameter(min_length=1, max_length=3, pattern="[a-z0-9.]*"),
    IntParameter(),
    IntParameter(minimum=-5, maximum=5),
    FloatParameter(),
    NumberParameter(exclusive_minimum=0),
    BooleanParameter(),
    ListParameter(IntParameter()),
    ListParameter(ListParameter(StringParameter()), max_items=2),
    DictParameter(),
    DictParameter(values=NumberParameter()),
    DictParameter(values=ListParameter(DictParameter())),
    CHOICES,
    DateTimeParameter(),
    DateParameter(),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.from_regex(r"\s*[+-]?\d*\.?\d*([eE][+-]?\d+)?\s*", fullmatch=True)
    | st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e999", "true", "2026-11-22"])
)
any_json = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
valid_json = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


minutes = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)
offsets = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
)
# RFC 3339 offsets are whole minutes; other offsets are written in UTC.
datetimes = st.datetimes(
    timezones=st.none() | st.just(UTC) | st.builds(timezone, st.builds(timedelta, minutes=minutes))
)
any_datetimes = st.datetimes(timezones=st.none() | st.builds(timezone, offsets))

VALID_VALUES: list[tuple[Parameter, st.SearchStrategy[Any]]] = [
    (StringParameter(), st.text()),
    (IntParameter(), st.integers()),
    (FloatParameter(), finite_floats),
    (NumberParameter(), st.integers() | finite_floats),
    (BooleanParameter(), st.booleans()),
    (ListParameter(IntParameter()), st.lists(st.integers())),
    (DictParameter(), st.dictionaries(st.text(), valid_json)),
    (DictParameter(values=StringParameter()), st.dictionaries(st.text(), st.text())),
    (CHOICES, st.sampled_from(CHOICES.choices)),
    (DateTimeParameter(), datetimes.map(DateTimeParameter().to_json)),
    (DateParameter(), st.dates().map(DateParameter().to_json)),
]


def _same_json(a: object, b: object) -> bool:
    """Equal, and of the same JSON types all the way down (so ``1 != 1.0 != True``)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_json, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


@given(st.data())
def test_valid_json_survives_a_round_trip(data: st.DataObject) -> None:
    parameter, values = data.draw(st.sampled_from(VALID_VALUES))
    value = data.draw(values)
    assert _same_json(parameter.to_json(parameter.to_python(value)), value)


def _error(convert: Callable[[object], Any], value: object) -> ParameterError | None:
    """The ``ParameterError`` that ``convert(value)`` raises, or None; others propagate."""
    try:
        convert(value)
    except ParameterError as exc:
        return exc
    return None


@given(st.sampled_from(PARAMETERS), any_json)
def test_to_python_raises_only_parameter_error(parameter: Parameter, value: object) -> None:
    error = _error(parameter.to_python, value)
    if error is None:
        parameter.to_json(parameter.to_python(value))  # a valid input makes a valid output
    else:
        assert error.detail
        assert str(error)


@given(
    st.sampled_from(PARAMETERS),
    any_json | st.tuples(any_json) | st.sets(st.integers()) | st.builds(object) | any_datetimes,
)
def test_to_json_raises_only_parameter_error(parameter: Parameter, value: object) -> None:
    error = _error(parameter.to_json, value)
    assert error is None or error.detail


@given(st.integers())
def test_ints_come_from_any_integral_representation(number: int) -> None:
    forms: list[object] = [number, str(number), f" {number} "]
    if number >= 0:
        forms.append(f"+{number}")
    if abs(number) < 2**53:
        forms += [float(number), f"{number}.0", f"{number}e0"]
    for form in forms:
        result = IntParameter().to_python(form)
        assert result == number
        assert type(result) is int


@given(finite_floats.filter(lambda number: not number.is_integer()))
def test_ints_never_come_from_fractions(number: float) -> None:
    for form in (number, repr(number)):
        with pytest.raises(ParameterError):
            IntParameter().to_python(form)


@given(any_json | st.floats().map(repr) | st.text())
def test_floats_are_always_finite(value: object) -> None:
    for parameter in (FloatParameter(), NumberParameter()):
        try:
            result = parameter.to_python(value)
        except ParameterError:
            continue
        assert math.isfinite(result)


@given(finite_floats)
def test_float_text_reads_back_exactly(number: float) -> None:
    assert FloatParameter().to_python(repr(number)) == number
    assert NumberParameter().to_python(repr(number)) == number


@given(datetimes)
def test_datetimes_keep_their_instant_and_offset(moment: datetime) -> None:
    parameter = DateTimeParameter()
    result = parameter.to_python(parameter.to_json(moment))
    expected = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


@given(any_datetimes)
def test_datetimes_with_any_offset_keep_their_instant(moment: datetime) -> None:
    parameter = DateTimeParameter()
    error = _error(parameter.to_json, moment)
    if error is None:
        result = parameter.to_python(parameter.to_json(moment))
        assert result == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    else:
        assert "within the range of UTC" in str(error)
