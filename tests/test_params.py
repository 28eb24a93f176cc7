"""Typed parameters: conversion both ways, errors, limits and JSON Schema."""

from __future__ import annotations

import dataclasses
import pickle
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import override_settings

import task_api.params
from task_api.params import (
    MISSING,
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

NAN, INF = float("nan"), float("inf")
PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
COLOURS = ChoiceParameter(["red", "green", 1, 2.5])

ALL_PARAMETERS = [
    StringParameter(),
    IntParameter(),
    FloatParameter(),
    NumberParameter(),
    BooleanParameter(),
    ListParameter(IntParameter()),
    DictParameter(),
    DictParameter(values=IntParameter()),
    COLOURS,
    DateTimeParameter(),
    DateParameter(),
]


def test_exports_are_sorted_and_complete() -> None:
    exported = task_api.params.__all__
    # Sorted as ruff's RUF022 wants: constants first, then classes.
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))
    public = {
        name
        for name, value in vars(task_api.params).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("task_api")
    }
    assert set(exported) == public | {"MISSING"}


ACCEPTED = [
    (StringParameter(), "abc", "abc"),
    (StringParameter(), "", ""),
    (StringParameter(), "  keeps spaces ", "  keeps spaces "),
    (StringParameter(), 5, "5"),
    (StringParameter(), -3, "-3"),
    (StringParameter(), 1.5, "1.5"),
    (IntParameter(), 6, 6),
    (IntParameter(), -3, -3),
    (IntParameter(), 5.0, 5),
    (IntParameter(), "6", 6),
    (IntParameter(), " 6 ", 6),
    (IntParameter(), "-3", -3),
    (IntParameter(), "+4", 4),
    (IntParameter(), "6.0", 6),
    (IntParameter(), "1e3", 1000),
    (IntParameter(), 10**30, 10**30),
    (IntParameter(), "9" * 4300, int("9" * 4300)),
    (FloatParameter(), 1, 1.0),
    (FloatParameter(), 2.5, 2.5),
    (FloatParameter(), "2.5", 2.5),
    (FloatParameter(), "6", 6.0),
    (FloatParameter(), " -1e3 ", -1000.0),
    (FloatParameter(), ".5", 0.5),
    (NumberParameter(), 1, 1),
    (NumberParameter(), 1.0, 1.0),
    (NumberParameter(), 2.5, 2.5),
    (NumberParameter(), "6", 6),
    (NumberParameter(), "6.0", 6.0),
    (NumberParameter(), "-2.5e1", -25.0),
    (BooleanParameter(), True, True),
    (BooleanParameter(), False, False),
    (BooleanParameter(), "true", True),
    (BooleanParameter(), "False", False),
    (BooleanParameter(), "TRUE", True),
    (ListParameter(StringParameter()), [], []),
    (ListParameter(StringParameter()), ["a", 1], ["a", "1"]),
    (ListParameter(IntParameter()), ["1", 2.0], [1, 2]),
    (ListParameter(ListParameter(IntParameter())), [[1], []], [[1], []]),
    (DictParameter(), {}, {}),
    (
        DictParameter(),
        {"a": [1, {"b": None, "c": 2.5}], "d": True},
        {"a": [1, {"b": None, "c": 2.5}], "d": True},
    ),
    (DictParameter(values=IntParameter()), {"a": "1", "b": 2}, {"a": 1, "b": 2}),
    (COLOURS, "red", "red"),
    (COLOURS, 1, 1),
    (COLOURS, 1.0, 1),
    (COLOURS, 2.5, 2.5),
    (DateTimeParameter(), "2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
    (
        DateTimeParameter(),
        "2026-11-22T10:00:00.120z",
        datetime(2026, 11, 22, 10, 0, 0, 120000, tzinfo=UTC),
    ),
    (
        DateTimeParameter(),
        "2026-11-22T10:00:00+05:30",
        datetime(2026, 11, 22, 10, tzinfo=PLUS_0530),
    ),
    (DateTimeParameter(), "2026-11-22 10:00", datetime(2026, 11, 22, 10, tzinfo=UTC)),
    (
        DateTimeParameter(),
        "2026-11-22T10:00:00.123456789Z",
        datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
    ),
    (DateParameter(), "2026-11-22", date(2026, 11, 22)),
    (DateParameter(), "2024-02-29", date(2024, 2, 29)),
]


@pytest.mark.parametrize(("parameter", "value", "expected"), ACCEPTED)
def test_to_python_accepts(parameter: Parameter, value: object, expected: object) -> None:
    result = parameter.to_python(value)
    assert result == expected
    assert type(result) is type(expected)


def test_naive_datetime_input_is_utc() -> None:
    result = DateTimeParameter().to_python("2026-11-22T10:00:00")
    assert result.tzinfo is not None
    assert result.utcoffset() == timedelta(0)


REJECTED = [
    (StringParameter(), True, "A valid string is required; got True."),
    (StringParameter(), [], "A valid string is required; got []."),
    (StringParameter(), {"a": 1}, "A valid string is required; got {'a': 1}."),
    (StringParameter(), NAN, "A valid string is required; got nan."),
    (IntParameter(), 5.9, "A valid integer is required; got 5.9."),
    (IntParameter(), "6.5", "A valid integer is required; got '6.5'."),
    (IntParameter(), "ten", "A valid integer is required; got 'ten'."),
    (IntParameter(), "", "A valid integer is required; got ''."),
    (IntParameter(), "1_000", "A valid integer is required; got '1_000'."),
    (IntParameter(), "\u0663", "A valid integer is required; got '\u0663'."),
    (IntParameter(), "nan", "A valid integer is required; got 'nan'."),
    (IntParameter(), "inf", "A valid integer is required; got 'inf'."),
    (IntParameter(), "1e400", "A finite number is required; got '1e400'."),
    (IntParameter(), True, "A valid integer is required; got True."),
    (IntParameter(), False, "A valid integer is required; got False."),
    (IntParameter(), "true", "A valid integer is required; got 'true'."),
    (IntParameter(), NAN, "A finite number is required; got nan."),
    (IntParameter(), -INF, "A finite number is required; got -inf."),
    (IntParameter(), [1], "A valid integer is required; got [1]."),
    (IntParameter(), "9" * 4301, "Integer has more than 4300 digits; got '999"),
    (FloatParameter(), NAN, "A finite number is required; got nan."),
    (FloatParameter(), INF, "A finite number is required; got inf."),
    (FloatParameter(), "nan", "A valid number is required; got 'nan'."),
    (FloatParameter(), "NaN", "A valid number is required; got 'NaN'."),
    (FloatParameter(), "inf", "A valid number is required; got 'inf'."),
    (FloatParameter(), "Infinity", "A valid number is required; got 'Infinity'."),
    (FloatParameter(), "-Infinity", "A valid number is required; got '-Infinity'."),
    (FloatParameter(), "1e999", "A finite number is required; got '1e999'."),
    (FloatParameter(), 10**400, "A finite number is required; got 1000"),
    (FloatParameter(), True, "A valid number is required; got True."),
    (FloatParameter(), "x", "A valid number is required; got 'x'."),
    (NumberParameter(), NAN, "A finite number is required; got nan."),
    (NumberParameter(), "-inf", "A valid number is required; got '-inf'."),
    (NumberParameter(), "1e999", "A finite number is required; got '1e999'."),
    (NumberParameter(), False, "A valid number is required; got False."),
    (BooleanParameter(), 1, "A valid boolean is required; got 1."),
    (BooleanParameter(), 0, "A valid boolean is required; got 0."),
    (BooleanParameter(), "1", "A valid boolean is required; got '1'."),
    (BooleanParameter(), "yes", "A valid boolean is required; got 'yes'."),
    (ListParameter(IntParameter()), "abc", "A list is required; got 'abc'."),
    (ListParameter(IntParameter()), (1, 2), "A list is required; got (1, 2)."),
    (ListParameter(IntParameter()), {"a": 1}, "A list is required; got {'a': 1}."),
    (DictParameter(), [], "A dict is required; got []."),
    (DictParameter(values=IntParameter()), "x", "A dict is required; got 'x'."),
    (
        COLOURS,
        "purple",
        "A valid choice is required; got 'purple'. Valid choices: 'red', 'green', 1, 2.5.",
    ),
    (COLOURS, True, "A valid choice is required; got True."),
    (COLOURS, "1", "A valid choice is required; got '1'."),
    (
        DateTimeParameter(),
        "yesterday",
        "A valid ISO-8601 datetime is required (YYYY-MM-DDThh:mm:ssZ); got 'yesterday'.",
    ),
    (DateTimeParameter(), "2026-11-22", "got '2026-11-22'."),
    (DateTimeParameter(), "2026-13-01T00:00:00Z", "got '2026-13-01T00:00:00Z'."),
    (DateTimeParameter(), 1_700_000_000, "got 1700000000."),
    (DateParameter(), "2026-02-30", "A valid date is required (YYYY-MM-DD); got '2026-02-30'."),
    (DateParameter(), "2026-11-22T00:00:00", "got '2026-11-22T00:00:00'."),
    (DateParameter(), "22/11/2026", "got '22/11/2026'."),
    (DateParameter(), 20261122, "got 20261122."),
]


@pytest.mark.parametrize(("parameter", "value", "message"), REJECTED)
def test_to_python_rejects(parameter: Parameter, value: object, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        parameter.to_python(value)
    assert isinstance(info.value.detail, str)
    assert message in info.value.detail


@pytest.mark.parametrize("parameter", ALL_PARAMETERS, ids=repr)
def test_null_is_rejected_both_ways(parameter: Parameter) -> None:
    with pytest.raises(ParameterError, match=r"^This input may not be null\.$"):
        parameter.to_python(None)
    with pytest.raises(ParameterError, match=r"^This output may not be null\.$"):
        parameter.to_json(None)


DUMPED = [
    (StringParameter(), "x", "x"),
    (IntParameter(), 5, 5),
    (IntParameter(), 5.0, 5),
    (FloatParameter(), 1, 1.0),
    (FloatParameter(), 2.5, 2.5),
    (NumberParameter(), 1, 1),
    (NumberParameter(), 1.0, 1.0),
    (BooleanParameter(), False, False),
    (ListParameter(IntParameter()), (1, 2.0), [1, 2]),
    (ListParameter(ListParameter(StringParameter())), [("a",), []], [["a"], []]),
    (DictParameter(), {"a": (1, {"b": (None,)})}, {"a": [1, {"b": [None]}]}),
    (DictParameter(values=IntParameter()), {"a": 5.0}, {"a": 5}),
    (COLOURS, "green", "green"),
    (DateTimeParameter(), datetime(2026, 11, 22, 10, tzinfo=UTC), "2026-11-22T10:00:00Z"),
    (DateTimeParameter(), datetime(2026, 11, 22, 10, 0, 0, 120000), "2026-11-22T10:00:00.120000Z"),
    (
        DateTimeParameter(),
        datetime(2026, 11, 22, 10, tzinfo=PLUS_0530),
        "2026-11-22T10:00:00+05:30",
    ),
    (DateParameter(), date(2026, 11, 22), "2026-11-22"),
]


@pytest.mark.parametrize(("parameter", "value", "expected"), DUMPED)
def test_to_json_accepts(parameter: Parameter, value: object, expected: object) -> None:
    result = parameter.to_json(value)
    assert result == expected
    assert type(result) is type(expected)


DUMP_REJECTED = [
    (StringParameter(), 5, "A valid string is required; got 5."),
    (StringParameter(), b"x", "A valid string is required; got b'x'."),
    (IntParameter(), 5.9, "A valid integer is required; got 5.9."),
    (IntParameter(), "5", "A valid integer is required; got '5'."),
    (IntParameter(), True, "A valid integer is required; got True."),
    (IntParameter(), NAN, "A finite number is required; got nan."),
    (FloatParameter(), NAN, "A finite number is required; got nan."),
    (FloatParameter(), -INF, "A finite number is required; got -inf."),
    (FloatParameter(), "1.5", "A valid number is required; got '1.5'."),
    (NumberParameter(), INF, "A finite number is required; got inf."),
    (NumberParameter(), "1", "A valid number is required; got '1'."),
    (BooleanParameter(), "true", "A valid boolean is required; got 'true'."),
    (BooleanParameter(), 1, "A valid boolean is required; got 1."),
    (ListParameter(IntParameter()), "ab", "A list is required; got 'ab'."),
    (ListParameter(IntParameter()), {1, 2}, "A list is required; got {1, 2}."),
    (DictParameter(), {1: "x"}, "Dict keys must be strings; got 1."),
    (DictParameter(), [("a", 1)], "A dict is required; got [('a', 1)]."),
    (
        COLOURS,
        "purple",
        "A valid choice is required; got 'purple'. Valid choices: 'red', 'green', 1, 2.5.",
    ),
    (
        DateTimeParameter(),
        "2026-11-22T10:00:00Z",
        "A datetime is required; got '2026-11-22T10:00:00Z'.",
    ),
    (
        DateTimeParameter(),
        date(2026, 11, 22),
        "A datetime is required; got datetime.date(2026, 11, 22).",
    ),
    (
        DateParameter(),
        datetime(2026, 11, 22),
        "A date is required; got datetime.datetime(2026, 11, 22, 0, 0).",
    ),
    (DateParameter(), "2026-11-22", "A date is required; got '2026-11-22'."),
]


def test_datetime_offsets_that_are_not_whole_minutes_are_written_in_utc() -> None:
    odd = timezone(timedelta(minutes=17, seconds=30))
    parameter = DateTimeParameter()
    assert parameter.to_json(datetime(1890, 1, 1, 0, 17, 30, tzinfo=odd)) == "1890-01-01T00:00:00Z"
    with pytest.raises(ParameterError, match="A datetime within the range of UTC is required"):
        parameter.to_json(datetime(1, 1, 1, tzinfo=odd))
    with pytest.raises(ParameterError, match="A valid ISO-8601 datetime is required"):
        parameter.to_python("1890-01-01T00:00:00+00:17:30")


@pytest.mark.parametrize(("parameter", "value", "message"), DUMP_REJECTED)
def test_to_json_rejects(parameter: Parameter, value: object, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        parameter.to_json(value)
    assert info.value.detail == message


def test_huge_int_outputs_are_rejected() -> None:
    huge = 10**5000
    for parameter in (IntParameter(), NumberParameter(), DictParameter()):
        with pytest.raises(ParameterError, match=r"more than 4300 digits; got <int object>\."):
            parameter.to_json({"a": huge} if isinstance(parameter, DictParameter) else huge)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ({"a": NAN}, {"a": ["A finite number is required; got nan."]}),
        ({"a": [1, {2, 3}]}, {"a": {1: ["A JSON value is required; got {2, 3}."]}}),
        ({"a": {"b": object}}, {"a": {"b": ["A JSON value is required; got <class 'object'>."]}}),
        ({"a": {1: 2}}, {"a": ["Dict keys must be strings; got 1."]}),
    ],
)
def test_free_dict_output_must_be_json(value: object, detail: object) -> None:
    with pytest.raises(ParameterError) as info:
        DictParameter().to_json(value)
    assert info.value.detail == detail


CONSTRAINED = [
    (
        StringParameter(min_length=2),
        "a",
        "Ensure this value has at least 2 characters; got 1: 'a'.",
    ),
    (
        StringParameter(max_length=2),
        "abc",
        "Ensure this value has at most 2 characters; got 3: 'abc'.",
    ),
    (
        StringParameter(pattern="[a-z]+"),
        "abc1",
        "This value does not match the pattern '[a-z]+'; got 'abc1'.",
    ),
    (StringParameter(pattern="a"), "ab", "does not match the pattern 'a'; got 'ab'."),
    (IntParameter(minimum=0), -1, "Ensure this value is greater than or equal to 0; got -1."),
    (IntParameter(maximum=10), 11, "Ensure this value is less than or equal to 10; got 11."),
    (IntParameter(exclusive_minimum=0), 0, "Ensure this value is greater than 0; got 0."),
    (IntParameter(exclusive_maximum=10), 10.0, "Ensure this value is less than 10; got 10."),
    (
        FloatParameter(minimum=0.5),
        0.25,
        "Ensure this value is greater than or equal to 0.5; got 0.25.",
    ),
    (NumberParameter(maximum=1), 1.5, "Ensure this value is less than or equal to 1; got 1.5."),
    (
        ListParameter(IntParameter(), min_items=1),
        [],
        "Ensure this list has at least 1 items; got 0.",
    ),
    (
        ListParameter(IntParameter(), max_items=2),
        [1, 2, 3],
        "Ensure this list has at most 2 items; got 3.",
    ),
]


@pytest.mark.parametrize(("parameter", "value", "message"), CONSTRAINED)
def test_constraints_apply_to_inputs_and_outputs(
    parameter: Parameter, value: object, message: str
) -> None:
    for convert in (parameter.to_python, parameter.to_json):
        with pytest.raises(ParameterError) as info:
            convert(value)
        assert message in str(info.value.detail)


def test_constraints_apply_after_conversion() -> None:
    with pytest.raises(ParameterError, match=r"at most 2 characters; got 3: '123'\."):
        StringParameter(max_length=2).to_python(123)
    with pytest.raises(ParameterError, match=r"less than or equal to 10; got 11\."):
        IntParameter(maximum=10).to_python("11")


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        (StringParameter(min_length=2, max_length=2, pattern="[a-z]+"), "ab"),
        (IntParameter(minimum=0, maximum=10), 0),
        (IntParameter(minimum=0, maximum=10), 10),
        (FloatParameter(exclusive_minimum=0, exclusive_maximum=1), 0.5),
        (ListParameter(IntParameter(), min_items=1, max_items=1), [1]),
    ],
)
def test_values_on_the_bounds_pass(parameter: Parameter, value: object) -> None:
    assert parameter.to_python(value) == value
    assert parameter.to_json(value) == value


def test_list_errors_are_reported_per_index() -> None:
    with pytest.raises(ParameterError) as info:
        ListParameter(IntParameter()).to_python([1, "x", None, 2.5])
    assert info.value.detail == {
        1: ["A valid integer is required; got 'x'."],
        2: ["This input may not be null."],
        3: ["A valid integer is required; got 2.5."],
    }


def test_nested_errors_keep_their_shape() -> None:
    parameter = DictParameter(values=ListParameter(IntParameter()))
    with pytest.raises(ParameterError) as info:
        parameter.to_python({"ok": [1], "a": [1, "x"], "b": "y"})
    assert info.value.detail == {
        "a": {1: ["A valid integer is required; got 'x'."]},
        "b": ["A list is required; got 'y'."],
    }
    assert str(info.value) == (
        "['a'][1]: A valid integer is required; got 'x'.; ['b']: A list is required; got 'y'."
    )


def test_free_dict_errors_are_reported_per_key() -> None:
    with pytest.raises(ParameterError) as info:
        DictParameter().to_python({"a": {"b": NAN}, "c": [1, INF]})
    assert info.value.detail == {
        "a": {"b": ["A finite number is required; got nan."]},
        "c": {1: ["A finite number is required; got inf."]},
    }


def test_output_errors_are_reported_per_index() -> None:
    with pytest.raises(ParameterError) as info:
        ListParameter(DateTimeParameter()).to_json([datetime(2026, 1, 1), "2026-01-01"])
    assert info.value.detail == {1: ["A datetime is required; got '2026-01-01'."]}


def test_parameter_error_is_a_picklable_value_error() -> None:
    error = ParameterError({0: ["bad"]})
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.detail == {0: ["bad"]}
    assert str(copy) == "[0]: bad"
    assert str(ParameterError("plain")) == "plain"


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ParameterError) as info:
        IntParameter().to_python("x" * 10_000)
    assert len(str(info.value)) < 200
    assert "'xxx" in str(info.value)


def test_string_limit() -> None:
    assert StringParameter().to_python("a" * 100_000) == "a" * 100_000
    with pytest.raises(ParameterError, match=r"limit of 100000 characters"):
        StringParameter().to_python("a" * 100_001)
    with override_settings(TASK_API_MAX_STRING_LENGTH=5):
        assert StringParameter().to_python("abcde") == "abcde"
        with pytest.raises(ParameterError) as info:
            StringParameter().to_python("abcdef")
        assert info.value.detail == (
            "String is longer than the limit of 5 characters (TASK_API_MAX_STRING_LENGTH); "
            "got 6 characters: 'abcdef'."
        )
        with pytest.raises(ParameterError, match="TASK_API_MAX_STRING_LENGTH"):
            StringParameter().to_json("abcdef")
        with pytest.raises(ParameterError, match="TASK_API_MAX_STRING_LENGTH"):
            DictParameter().to_python({"a": ["abcdef"]})
        with pytest.raises(ParameterError, match="TASK_API_MAX_STRING_LENGTH"):
            DictParameter().to_python({"abcdef": 1})


def test_list_length_limit() -> None:
    assert len(ListParameter(IntParameter()).to_python([1] * 10_000)) == 10_000
    with pytest.raises(ParameterError, match=r"limit of 10000 items"):
        ListParameter(IntParameter()).to_python([1] * 10_001)
    with override_settings(TASK_API_MAX_LIST_LENGTH=3):
        assert ListParameter(IntParameter()).to_python([1, 2, 3]) == [1, 2, 3]
        with pytest.raises(ParameterError) as info:
            ListParameter(IntParameter()).to_python([1, 2, 3, 4])
        assert info.value.detail == (
            "List has more than the limit of 3 items (TASK_API_MAX_LIST_LENGTH); got 4."
        )
        with pytest.raises(ParameterError, match=r"^Dict has more than the limit of 3 items"):
            DictParameter().to_python(dict.fromkeys("abcd", 1))
        with pytest.raises(ParameterError) as info:
            DictParameter().to_json({"a": (1, 2, 3, 4)})
        assert info.value.detail == {
            "a": ["List has more than the limit of 3 items (TASK_API_MAX_LIST_LENGTH); got 4."]
        }


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


DEPTH_ERROR = "Nesting is deeper than the limit of 32 levels (TASK_API_MAX_DEPTH)."


def test_depth_limit_counts_typed_and_free_levels() -> None:
    free = DictParameter()
    assert free.to_python({"a": _nested(31)}) == {"a": _nested(31)}
    with pytest.raises(ParameterError) as info:
        free.to_python({"a": _nested(32)})
    assert info.value.detail == DEPTH_ERROR
    mixed = ListParameter(ListParameter(DictParameter()))
    assert mixed.to_python([[{"a": _nested(29)}]])
    with pytest.raises(ParameterError, match=re.escape(DEPTH_ERROR)):
        mixed.to_python([[{"a": _nested(30)}]])


def test_depth_limit_setting_and_cyclic_outputs() -> None:
    with override_settings(TASK_API_MAX_DEPTH=2):
        assert ListParameter(ListParameter(IntParameter())).to_python([[1]]) == [[1]]
        with pytest.raises(ParameterError, match=r"limit of 2 levels \(TASK_API_MAX_DEPTH\)"):
            ListParameter(ListParameter(ListParameter(IntParameter()))).to_python([[[1]]])
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ParameterError, match=re.escape(DEPTH_ERROR)):
        DictParameter().to_json(cycle)


SCHEMAS = [
    (StringParameter(), {"type": "string"}),
    (
        StringParameter(min_length=1, max_length=5, pattern="[a-z]+"),
        {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^(?:[a-z]+)$"},
    ),
    (IntParameter(), {"type": "integer"}),
    (IntParameter(minimum=0, maximum=9), {"type": "integer", "minimum": 0, "maximum": 9}),
    (
        FloatParameter(exclusive_minimum=0, exclusive_maximum=1.5),
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
    ),
    (NumberParameter(), {"type": "number"}),
    (BooleanParameter(), {"type": "boolean"}),
    (
        ListParameter(StringParameter(), min_items=1, max_items=3),
        {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    ),
    (DictParameter(), {"type": "object", "additionalProperties": True}),
    (
        DictParameter(values=IntParameter()),
        {"type": "object", "additionalProperties": {"type": "integer"}},
    ),
    (ChoiceParameter(["a", "b"]), {"enum": ["a", "b"], "type": "string"}),
    (ChoiceParameter([1, 2]), {"enum": [1, 2], "type": "integer"}),
    (ChoiceParameter([1, 2.5]), {"enum": [1, 2.5], "type": "number"}),
    (ChoiceParameter([True]), {"enum": [True], "type": "boolean"}),
    (COLOURS, {"enum": ["red", "green", 1, 2.5]}),
    (DateTimeParameter(), {"type": "string", "format": "date-time"}),
    (DateParameter(), {"type": "string", "format": "date"}),
    (
        IntParameter(required=False, default=5, title="Count", description="How many."),
        {"type": "integer", "title": "Count", "description": "How many.", "default": 5},
    ),
    (
        DateTimeParameter(required=False, default=datetime(2026, 1, 1, tzinfo=UTC)),
        {"type": "string", "format": "date-time", "default": "2026-01-01T00:00:00Z"},
    ),
    (
        ListParameter(IntParameter(description="One."), required=False, default=(1, 2)),
        {"type": "array", "items": {"type": "integer", "description": "One."}, "default": [1, 2]},
    ),
]


@pytest.mark.parametrize(("parameter", "schema"), SCHEMAS, ids=repr)
def test_json_schema(parameter: Parameter, schema: dict[str, Any]) -> None:
    assert parameter.json_schema() == schema


def test_json_schema_checks_the_default() -> None:
    with pytest.raises(ParameterError, match=r"A valid integer is required; got 'x'\."):
        IntParameter(required=False, default="x").json_schema()


@pytest.mark.parametrize(
    ("parameter", "text"),
    [
        (IntParameter(), "IntParameter()"),
        (IntParameter(required=False, minimum=0), "IntParameter(required=False, minimum=0)"),
        (
            ListParameter(StringParameter(), required=False, max_items=3),
            "ListParameter(StringParameter(), required=False, max_items=3)",
        ),
        (DictParameter(values=BooleanParameter()), "DictParameter(values=BooleanParameter())"),
        (ChoiceParameter(["a", 1]), "ChoiceParameter(('a', 1))"),
        (
            StringParameter(required=False, default="x", pattern="[a-z]"),
            "StringParameter(required=False, default='x', pattern='[a-z]')",
        ),
    ],
)
def test_repr(parameter: Parameter, text: str) -> None:
    assert repr(parameter) == text


def test_parameters_are_immutable_values() -> None:
    parameter = IntParameter(required=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parameter.required = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        parameter.anything = 1  # type: ignore[attr-defined]
    assert ListParameter(StringParameter()) == ListParameter(StringParameter())
    assert hash(ChoiceParameter(["a"])) == hash(ChoiceParameter(("a",)))
    assert IntParameter(minimum=1) != IntParameter()


def test_defaults_of_the_base_options() -> None:
    parameter = StringParameter()
    assert parameter.required is True
    assert parameter.default is MISSING
    assert parameter.description == ""
    assert parameter.title == ""
    assert repr(MISSING) == "MISSING"


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: IntParameter(default=3), ValueError, "pass required=False"),
        (lambda: IntParameter(minimum=5, maximum=1), ValueError, "minimum 5 is above maximum 1"),
        (lambda: IntParameter(minimum="1"), TypeError, "minimum must be a finite number"),  # type: ignore[arg-type]
        (lambda: FloatParameter(maximum=INF), TypeError, "maximum must be a finite number"),
        (lambda: StringParameter(pattern="("), ValueError, r"Invalid pattern '\('"),
        (lambda: StringParameter(max_length=2.5), TypeError, "max_length must be an int"),  # type: ignore[arg-type]
        (lambda: ListParameter(IntParameter(), min_items=-1), TypeError, "min_items must be"),
        (lambda: ListParameter("x"), TypeError, "needs a Parameter for its items"),  # type: ignore[arg-type]
        (lambda: DictParameter(values=int), TypeError, "values must be a Parameter"),  # type: ignore[arg-type]
        (lambda: ChoiceParameter([]), ValueError, "at least one choice"),
        (lambda: ChoiceParameter("abc"), TypeError, "choices must be a sequence"),
        (lambda: ChoiceParameter(["a", None]), TypeError, "got None"),  # type: ignore[list-item]
        (lambda: ChoiceParameter([NAN]), TypeError, "got nan"),
        (lambda: Parameter(), TypeError, "abstract"),  # type: ignore[abstract]
    ],
)
def test_bad_declarations_fail_early(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_predecessor_positional_forms() -> None:
    assert ListParameter(StringParameter()).inner == StringParameter()
    assert ChoiceParameter(["a", "b"]).choices == ("a", "b")
    assert IntParameter(required=False).required is False
