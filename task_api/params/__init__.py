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

from .base import MISSING, Parameter, ParameterError
from .choices import ChoiceParameter
from .containers import DictParameter, ListParameter
from .dates import DateParameter, DateTimeParameter
from .numbers import FloatParameter, IntParameter, NumberParameter
from .scalars import BooleanParameter, StringParameter

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
