"""Typed parameters: the inputs and outputs of tasks.

A parameter converts a JSON input to a Python value (``to_python``), a Python
output to a JSON-ready value (``to_json``), and describes its values as JSON
Schema (``json_schema``). A value that does not fit raises ``ParameterError``.

    Parameter
    ├── StringParameter, BooleanParameter
    ├── IntParameter, FloatParameter, NumberParameter
    ├── ListParameter, DictParameter
    ├── ChoiceParameter
    └── DateTimeParameter, DateParameter
"""

from __future__ import annotations

from task_api.params.base import MISSING, Parameter, ParameterError
from task_api.params.choices import ChoiceParameter
from task_api.params.containers import DictParameter, ListParameter
from task_api.params.dates import DateParameter, DateTimeParameter
from task_api.params.numbers import FloatParameter, IntParameter, NumberParameter
from task_api.params.scalars import BooleanParameter, StringParameter

__all__ = [
    "MISSING",
    "BooleanParameter",
    "ChoiceParameter",
    "DateParameter",
    "DateTimeParameter",
    "DictParameter",
    "FloatParameter",
    "IntParameter",
    "ListParameter",
    "NumberParameter",
    "Parameter",
    "ParameterError",
    "StringParameter",
]
