"""The demo's ``@task`` function (Django 6+): a plain function next to the task classes.

It runs through ``django.tasks`` on the same engine, reports with
``task_api.progress`` and is started from the page like any task, by its
module path, with inputs typed from its annotations.
"""

from __future__ import annotations

import time
from typing import Literal

from django.tasks import task

from task_api import progress


@task
def convert_temperatures(
    celsius: list[float], unit: Literal["fahrenheit", "kelvin"] = "fahrenheit"
) -> list[float]:
    """Convert Celsius temperatures, one every half second (a @task function)."""
    progress.set_target(len(celsius))
    converted = []
    for value in celsius:
        time.sleep(0.5)
        result = value * 9 / 5 + 32 if unit == "fahrenheit" else value + 273.15
        converted.append(round(result, 2))
        progress.inc()
        progress.message(f"{value:g} °C is {result:.2f} {'°F' if unit == 'fahrenheit' else 'K'}")
    return converted
