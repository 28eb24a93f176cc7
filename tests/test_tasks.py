"""The ``Task`` base class: defaults, progress on a detached task, output conversion, schemas."""

from __future__ import annotations

from typing import Any

import pytest

from task_api.exceptions import OutputError
from task_api.params import (
    DictParameter,
    IntParameter,
    ListParameter,
    NumberParameter,
    StringParameter,
)
from task_api.tasks import InputErrors, Task
from tests.project.tasks import Add, BadOutput, Burst, Countdown, Echo, MultiOutput


class Greet(Task):
    """Greet somebody.

    Second paragraph, not part of the description.
    """

    name = "greet"
    inputs = {
        "who": StringParameter(),
        "times": IntParameter(required=False),
        "punctuation": StringParameter(required=False, default="!"),
        "tags": ListParameter(StringParameter(), required=False),
    }
    outputs = {"text": StringParameter()}

    def run(self, who: str, times: int = 2, punctuation: str = "?", tags: Any = None) -> str:
        return " ".join([f"Hello {who}{punctuation}"] * times)


class NoOutputs(Task):
    name = "no-outputs"

    def run(self) -> str:
        return "ignored"


class Described(Task):
    """Docstring that loses to the attribute."""

    name = "described"
    description = "Explicit description."


# -- inputs and their defaults ------------------------------------------------------


def test_defaults_come_from_run_signature_and_parameter_default() -> None:
    # The parameter's own default wins over run's; tags has run default None.
    assert Greet.input_defaults() == {"times": 2, "punctuation": "!", "tags": None}


def test_inputs_from_json_fills_defaults_and_converts() -> None:
    kwargs = Greet.inputs_from_json({"who": "Ada", "times": "3"})
    assert kwargs == {"who": "Ada", "times": 3, "punctuation": "!", "tags": None}
    assert Greet().run(**kwargs) == "Hello Ada! Hello Ada! Hello Ada!"


def test_optional_input_without_any_default_is_simply_omitted() -> None:
    assert Add.input_defaults() == {"b": 1}
    assert Add.inputs_from_json({"a": 2}) == {"a": 2, "b": 1}


def test_clean_inputs_reports_every_problem_at_once() -> None:
    with pytest.raises(InputErrors) as info:
        Greet.clean_inputs({"times": "many", "colour": "red", "tags": "not a list"})
    errors = info.value.errors
    assert set(errors) == {"who", "times", "colour", "tags"}
    assert errors["who"] == ["This input is required."]
    assert "integer" in errors["times"][0]
    assert "'many'" in errors["times"][0]
    assert errors["colour"] == [
        "Unexpected input 'colour'; known inputs: punctuation, tags, times, who."
    ]


def test_clean_inputs_round_trips_through_json() -> None:
    cleaned = Greet.clean_inputs({"who": "Ada", "times": "6"})
    assert cleaned == {"who": "Ada", "times": 6}
    assert Greet.inputs_to_json(cleaned) == {"who": "Ada", "times": 6}


# -- progress and messages on a detached task (no worker, no database) ------------


def test_inc_progress_before_set_progress_starts_at_zero() -> None:
    task = Countdown()
    task.inc_progress()
    task.inc_progress(4)
    assert task._reporter.progress == 5
    task.set_progress(2)
    task.inc_progress()
    assert task._reporter.progress == 3


def test_set_target_and_add_message_on_a_detached_task() -> None:
    task = Countdown()
    task.set_target(10)
    task.add_message("hello")
    task.add_message({"step": 1}, level="warning")
    reporter = task._reporter
    assert reporter.target == 10
    assert [(e["value"], e["level"]) for e in reporter.entries] == [
        ("hello", "info"),
        ({"step": 1}, "warning"),
    ]
    assert all(e["time"].endswith("Z") for e in reporter.entries)


def test_progress_values_are_made_ints() -> None:
    task = Burst()
    task.set_target(7.0)  # type: ignore[arg-type]
    task.set_progress("3")  # type: ignore[arg-type]
    assert (task._reporter.target, task._reporter.progress) == (7, 3)


def test_run_directly_counts_to_the_target() -> None:
    task = Countdown()
    assert task.run(count=5) == 5
    assert (task._reporter.progress, task._reporter.target) == (5, 5)
    assert task.cancel_requested is False
    task.check_cancelled()  # does not raise


def test_base_run_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="Described must implement run"):
        Described().run()


# -- outputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_class", "result", "expected"),
    [
        (Add, 3, {"sum": 3}),
        (Add, 2.5, {"sum": 2.5}),
        (Countdown, 4.0, {"counted": 4}),
        # A single DictParameter output returned as a dict is that output, not the outputs.
        (Echo, {"a": 1, "b": [1, 2]}, {"value": {"a": 1, "b": [1, 2]}}),
        (Echo, {"value": 5}, {"value": {"value": 5}}),
        (Echo, {}, {"value": {}}),
        (
            MultiOutput,
            {"upper": "AB", "info": {"text": "ab"}, "length": 2},
            {"upper": "AB", "info": {"text": "ab"}, "length": 2},
        ),
        (NoOutputs, "ignored", {}),
    ],
)
def test_outputs_to_json(task_class: type[Task], result: Any, expected: dict[str, Any]) -> None:
    assert task_class.outputs_to_json(result) == expected


@pytest.mark.parametrize(
    ("result", "fragments"),
    [
        ({"value": 1}, ["missing outputs ['label']"]),
        ({"value": 1, "label": "x", "other": 2}, ["unexpected outputs ['other']"]),
        ({"value": "not a number", "label": "x"}, ["output 'value'", "'not a number'"]),
        ({"value": 5.9, "label": "x"}, ["output 'value'", "5.9"]),
        (
            {"label": None, "x": 1},
            ["missing outputs ['value']", "unexpected outputs ['x']", "output 'label'"],
        ),
        ("not a dict", ["must return a dict; got str", "['label', 'value']"]),
        (None, ["must return a dict; got NoneType"]),
    ],
)
def test_bad_outputs_raise_output_error_with_a_clear_message(
    result: Any, fragments: list[str]
) -> None:
    with pytest.raises(OutputError) as info:
        BadOutput.outputs_to_json(result)
    message = str(info.value)
    assert "'bad-output'" in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("task_class", "result"),
    [(Add, "three"), (Add, float("nan")), (Countdown, True), (Countdown, None), (Echo, [1, 2])],
)
def test_unconvertible_single_output_raises_output_error(
    task_class: type[Task], result: Any
) -> None:
    (key,) = task_class.outputs
    with pytest.raises(OutputError, match=f"output {key!r}"):
        task_class.outputs_to_json(result)


def test_output_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing outputs"):
        BadOutput.outputs_to_json({"value": 1})


# -- schema -------------------------------------------------------------------------


def test_input_schema() -> None:
    schema = Greet.input_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["who"]
    properties = schema["properties"]
    assert list(properties) == ["who", "times", "punctuation", "tags"]
    assert properties["who"]["type"] == "string"
    assert properties["times"] == {"type": "integer", "default": 2}
    assert properties["punctuation"]["default"] == "!"
    assert properties["tags"]["type"] == "array"
    assert properties["tags"]["items"]["type"] == "string"
    # A default of None cannot be shown as a value of the parameter.
    assert "default" not in properties["tags"]


def test_output_schema_lists_every_output_as_required() -> None:
    schema = MultiOutput.output_schema()
    assert schema["required"] == ["upper", "info", "length"]
    assert schema["properties"]["info"]["type"] == "object"
    assert schema["properties"]["length"]["type"] == "integer"
    assert schema["additionalProperties"] is False


def test_schemas_of_a_task_without_inputs_or_outputs() -> None:
    empty = {"type": "object", "properties": {}, "additionalProperties": False}
    assert NoOutputs.input_schema() == empty
    assert NoOutputs.output_schema() == empty


def test_schema_bounds_and_number_types() -> None:
    assert Countdown.input_schema()["properties"]["count"] == {"type": "integer", "minimum": 0}
    assert Add.input_schema()["properties"]["b"] == {"type": "number", "default": 1}
    assert isinstance(NumberParameter().json_schema(), dict)
    assert DictParameter().json_schema() == {"type": "object", "additionalProperties": True}


@pytest.mark.parametrize(
    ("task_class", "description"),
    [(Greet, "Greet somebody."), (Described, "Explicit description."), (NoOutputs, "")],
)
def test_description(task_class: type[Task], description: str) -> None:
    assert task_class.get_description() == description


class Titled(Described):
    name = "reports.monthly_summary"


def test_title_is_explicit_or_the_name_humanized() -> None:
    assert NoOutputs.get_title() == "No outputs"
    assert Titled.get_title() == "Monthly summary"
    Titled.title = "Summary of the month"
    try:
        assert Titled.get_title() == "Summary of the month"
    finally:
        del Titled.title
