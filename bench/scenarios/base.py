"""What a scenario is, and helpers several scenarios share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..httpload import HttpConnection
from ..stats import Metric, Sample

if TYPE_CHECKING:
    from ..harness import Stack

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How much to measure: full runs, or ``smoke`` (tiny counts, one repeat)."""

    smoke: bool
    repeats: int

    def pick(self, full: T, smoke: T) -> T:
        return smoke if self.smoke else full


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named measurement: ``run`` returns one sample (figures by key) per repeat."""

    name: str
    title: str
    metrics: tuple[Metric, ...]
    run: Callable[[Stack, Mode], list[Sample]]


async def start_task(stack: Stack, name: str, inputs: dict[str, Any]) -> str:
    """``POST /tasks/`` and return the new task's uuid."""
    connection = HttpConnection(stack.port, stack.basic_auth)
    try:
        status, body = await connection.json("POST", "/tasks/", {"task": name, "inputs": inputs})
    finally:
        await connection.close()
    if status != 201:
        raise RuntimeError(f"POST /tasks/ answered {status}: {body!r}")
    return str(body["uuid"])


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, step: float = 0.005
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def ms(microseconds: float) -> float:
    """µs to ms."""
    return microseconds / 1000.0
