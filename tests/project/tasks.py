"""Sample tasks used by the tests."""

from __future__ import annotations

import time
from typing import Any

from task_api.params import (
    DictParameter,
    IntParameter,
    ListParameter,
    NumberParameter,
    StringParameter,
)
from task_api.tasks import Task


class Add(Task):
    """Add two numbers."""

    name = "add"
    inputs = {"a": NumberParameter(), "b": NumberParameter(required=False)}
    outputs = {"sum": NumberParameter()}

    def run(self, a: float, b: float = 1) -> float:
        return a + b


class Countdown(Task):
    """Count to a number, a step at a time."""

    name = "countdown"
    inputs = {"count": IntParameter(minimum=0), "delay": NumberParameter(required=False)}
    outputs = {"counted": IntParameter()}

    def run(self, count: int, delay: float = 0.0) -> int:
        self.set_target(count)
        for _ in range(count):
            if delay:
                time.sleep(delay)
            self.inc_progress()
        return count


class Fail(Task):
    """Always fails."""

    name = "fail"
    inputs = {"reason": StringParameter(required=False)}

    def run(self, reason: str = "boom") -> None:
        raise ValueError(reason)


class Messages(Task):
    """Posts messages."""

    name = "messages"
    inputs = {"lines": ListParameter(StringParameter())}
    outputs = {"count": IntParameter()}

    def run(self, lines: list[str]) -> int:
        for line in lines:
            self.add_message(line)
        return len(lines)


class MultiOutput(Task):
    """Several outputs, one of them a dict."""

    name = "multi"
    inputs = {"text": StringParameter()}
    outputs = {"upper": StringParameter(), "info": DictParameter(), "length": IntParameter()}

    def run(self, text: str) -> dict[str, Any]:
        return {"upper": text.upper(), "info": {"text": text}, "length": len(text)}


class BadOutput(Task):
    """Returns outputs that do not match its declaration."""

    name = "bad-output"
    inputs = {"mode": StringParameter()}
    outputs = {"value": IntParameter(), "label": StringParameter()}

    def run(self, mode: str) -> Any:
        if mode == "missing":
            return {"value": 1}
        if mode == "extra":
            return {"value": 1, "label": "x", "other": 2}
        if mode == "type":
            return {"value": "not a number", "label": "x"}
        return "not a dict"


class Sleep(Task):
    """Sleeps in small steps, checking for cancellation."""

    name = "sleep"
    inputs = {"seconds": NumberParameter()}

    def run(self, seconds: float) -> None:
        self.set_target(int(seconds * 10))
        for _ in range(int(seconds * 10)):
            time.sleep(0.1)
            self.inc_progress()


class Burst(Task):
    """Emits many progress updates and messages as fast as it can."""

    name = "burst"
    inputs = {"count": IntParameter(), "messages": IntParameter(required=False)}
    outputs = {"count": IntParameter()}

    def run(self, count: int, messages: int = 0) -> int:
        self.set_target(count)
        for i in range(1, count + 1):
            self.set_progress(i)
        for i in range(messages):
            self.add_message(f"message {i}")
        return count


class Echo(Task):
    """Returns its input."""

    name = "echo"
    inputs = {"value": DictParameter(required=False)}
    outputs = {"value": DictParameter()}

    def run(self, value: dict[str, Any] | None = None) -> dict[str, Any]:
        return value or {}


class RetrySafeSleep(Sleep):
    """Like sleep, but safe to run again if its worker dies."""

    name = "retry-safe-sleep"
    retry_safe = True
    outputs = {"attempt": IntParameter()}

    def run(self, seconds: float) -> int:  # type: ignore[override]
        super().run(seconds)
        return self.attempt


class Stubborn(Task):
    """Ignores its soft time limit: only the hard limit stops it."""

    name = "stubborn"
    inputs = {"seconds": NumberParameter()}
    time_limit = 2.0
    soft_time_limit = 1.0

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(deadline - time.monotonic())
            except Exception:  # the soft time limit, ignored on purpose
                continue


class SoftLimited(Task):
    """Runs past its soft time limit."""

    name = "soft-limited"
    inputs = {"seconds": NumberParameter()}
    soft_time_limit = 0.5

    def run(self, seconds: float) -> None:
        time.sleep(seconds)


class Flaky(Task):
    """Fails with a connection error on its first attempts, then succeeds."""

    name = "flaky"
    inputs = {"succeed_on": IntParameter()}
    outputs = {"attempt": IntParameter()}
    retry_on = (ConnectionError,)
    max_retries = 3
    retry_backoff = 0.1

    def run(self, succeed_on: int) -> int:
        if self.attempt < succeed_on:
            raise ConnectionError(f"attempt {self.attempt} could not connect")
        return self.attempt


class Swallower(Task):
    """Reports progress inside ``except Exception: pass``: only a stop signal ends it early."""

    name = "swallower"
    inputs = {"seconds": NumberParameter()}
    outputs = {"swallowed": IntParameter()}

    def run(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        swallowed = 0
        while time.monotonic() < deadline:
            try:
                self.inc_progress()
            except Exception:
                swallowed += 1
            time.sleep(0.01)
        return swallowed


class LimitedSwallower(Swallower):
    """A ``Swallower`` with a soft time limit, which ``except Exception`` cannot swallow either."""

    name = "limited-swallower"
    soft_time_limit = 0.5


class RuntimeProbe(Task):
    """Reports the process it runs in, the runtime parts there and the app's live threads."""

    name = "runtime-probe"
    outputs = {
        "pid": IntParameter(),
        "parts": ListParameter(StringParameter()),
        "threads": ListParameter(StringParameter()),
    }

    def run(self) -> dict[str, Any]:
        import os
        import threading

        from task_api.engine import runtime

        self.set_progress(1)
        time.sleep(0.3)  # the flusher of this process writes the progress meanwhile
        return {
            "pid": os.getpid(),
            "parts": sorted(kind.__name__ for kind in runtime.RUNTIME.parts),
            "threads": sorted(
                t.name for t in threading.enumerate() if t.name.startswith("task_api-")
            ),
        }


class Tokens(Task):
    """Write ``count`` numbered tokens to the "answer" stream, and rows to "rows"."""

    name = "tokens"
    inputs = {
        "count": IntParameter(),
        "delay": NumberParameter(required=False),
        "chunk_bytes": IntParameter(required=False),
        "fail_at": IntParameter(required=False),
        "every": IntParameter(required=False),
    }
    outputs = {"written": IntParameter()}
    streams = {"answer": StringParameter(), "rows": DictParameter()}
    retry_on = (ConnectionError,)
    max_retries = 1
    retry_backoff = 0.05

    def run(
        self,
        count: int,
        delay: float = 0.0,
        chunk_bytes: int = 0,
        fail_at: int = -1,
        every: int = 1,
    ) -> int:
        start = 0 if self.attempt == 1 else fail_at
        for i in range(start, count):
            if i == fail_at and self.attempt == 1:
                raise ConnectionError("the model went away")
            self.write(f"t{i} " + "x" * chunk_bytes, stream="answer")
            if i % 100 == 0:
                self.write({"row": i}, stream="rows")
            if delay and i % every == 0:
                time.sleep(delay)
        return count


class RetrySafeTokens(Task):
    """Write ``count`` tokens marked with the attempt ("2:17") to the "answer" stream;
    safe to run again if its worker dies."""

    name = "retry-safe-tokens"
    retry_safe = True
    inputs = {
        "count": IntParameter(),
        "delay": NumberParameter(required=False),
        "every": IntParameter(required=False),
    }
    outputs = {"attempt": IntParameter()}

    def run(self, count: int, delay: float = 0.0, every: int = 1) -> int:
        for i in range(count):
            self.write(f"{self.attempt}:{i}", stream="answer")
            if delay and i % every == 0:
                time.sleep(delay)
        return self.attempt
