"""The demo's tasks: one for each thing the library does."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Any

from task_api.params import (
    BooleanParameter,
    ChoiceParameter,
    DictParameter,
    FloatParameter,
    IntParameter,
    StringParameter,
)
from task_api.tasks import Task

_SAMPLE_TEXT = (
    "Background tasks let a web page stay quick while the work goes on elsewhere. "
    "The page starts a task, the task reports its progress, and the page shows it live. "
    "When the task is done, the page shows what the task found."
)


def _sleep(task: Task, seconds: float) -> None:
    """Sleep in short steps, stopping at once if the task is cancelled."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        task.check_cancelled()
        time.sleep(min(left, 0.1))


class Countdown(Task):
    """Count down to zero, with a progress bar."""

    name = "countdown"
    inputs = {
        "seconds": IntParameter(
            minimum=1,
            maximum=60,
            required=False,
            default=5,
            title="Seconds",
            description="How long to count down, from 1 to 60.",
        )
    }
    outputs = {"elapsed": FloatParameter(title="Elapsed (s)")}

    def run(self, seconds: int = 5) -> float:
        began = time.monotonic()
        ticks_per_second = 10
        self.set_target(seconds * ticks_per_second)
        for _ in range(seconds * ticks_per_second):
            _sleep(self, 1 / ticks_per_second)
            self.inc_progress()
        self.add_message("Lift-off!", "success")
        return round(time.monotonic() - began, 2)


_ANSWER = (
    "A background task lets a web page ask for slow work without waiting for it. "
    "The page starts the task with one request, and a worker runs it while the "
    "visitor reads on. The task reports its progress, posts messages and writes "
    "streams like this one, word by word, and every word is stored with its "
    "position. The page shows each word as it arrives, over a WebSocket or, where "
    "sockets are blocked, by polling. Reload the page "
    "now: it keeps the words it has shown and asks for the rest from the position "
    "it had reached, so no word is lost and none comes twice. When the task ends, "
    "the page has the whole answer, exactly as the task wrote it."
)


class WriteAnswer(Task):
    """Write an answer word by word to the "answer" stream, as a language model would."""

    name = "write-answer"
    title = "Write an answer"
    inputs = {
        "words_per_second": IntParameter(
            minimum=1,
            maximum=50,
            required=False,
            default=8,
            title="Words per second",
            description=f"How fast the {len(_ANSWER.split())} words of the answer are written.",
        )
    }
    outputs = {"words": IntParameter(title="Words written")}

    def run(self, words_per_second: int = 8) -> int:
        words = _ANSWER.split(" ")
        self.set_target(len(words))
        for index, word in enumerate(words):
            _sleep(self, 1 / words_per_second)
            self.write(word if index == 0 else " " + word, stream="answer")
            self.inc_progress()
        return len(words)


class Primes(Task):
    """Count the prime numbers below a limit, block by block."""

    name = "primes"
    inputs = {
        "limit": IntParameter(
            minimum=10,
            maximum=100_000_000,
            required=False,
            default=20_000_000,
            title="Below",
            description="Count the primes below this number, up to 100 million.",
        )
    }
    outputs = {
        "count": IntParameter(title="Primes found"),
        "largest": IntParameter(title="Largest prime"),
    }

    def run(self, limit: int = 20_000_000) -> dict[str, int]:
        base = _sieve(math.isqrt(limit) + 1)
        small = [p for p, is_prime in enumerate(base) if is_prime]
        block = max(10_000, limit // 100)
        self.set_target(limit)
        count, largest = 0, 2
        for start in range(0, limit, block):
            self.check_cancelled()
            stop = min(start + block, limit)
            found = _primes_between(start, stop, small)
            if found:
                count += len(found)
                largest = found[-1]
            self.set_progress(stop)
        return {"count": count, "largest": largest}


def _sieve(n: int) -> bytearray:
    """``sieve[k]`` is 1 when ``k < n`` is prime."""
    sieve = bytearray([1]) * max(n, 2)
    sieve[0] = sieve[1] = 0
    for p in range(2, math.isqrt(n - 1) + 1 if n > 1 else 2):
        if sieve[p]:
            sieve[p * p : n : p] = bytes(len(range(p * p, n, p)))
    return sieve[:n]


def _primes_between(start: int, stop: int, small: list[int]) -> list[int]:
    """The primes in ``[start, stop)``, given every prime up to ``sqrt(stop)``."""
    segment = bytearray([1]) * (stop - start)
    for p in small:
        if p * p >= stop:
            break
        first = max(p * p, (start + p - 1) // p * p)
        segment[first - start :: p] = bytes(len(range(first - start, stop - start, p)))
    return [start + i for i, is_prime in enumerate(segment) if is_prime and start + i > 1]


class WordStats(Task):
    """Count the words of a text and find the most frequent ones."""

    name = "word-stats"
    inputs = {
        "text": StringParameter(
            min_length=1,
            max_length=20_000,
            required=False,
            default=_SAMPLE_TEXT,
            title="Text",
            description="Any text, up to 20,000 characters.",
        ),
        "top": IntParameter(
            minimum=1,
            maximum=20,
            required=False,
            default=5,
            title="Top words",
            description="How many of the most frequent words to list.",
        ),
        "ignore_case": BooleanParameter(
            required=False,
            default=True,
            title="Ignore case",
            description="Count “The” and “the” as one word.",
        ),
    }
    outputs = {
        "words": IntParameter(title="Words"),
        "unique": IntParameter(title="Distinct words"),
        "top": DictParameter(title="Most frequent"),
    }

    def run(
        self, text: str = _SAMPLE_TEXT, top: int = 5, ignore_case: bool = True
    ) -> dict[str, Any]:
        words = re.findall(r"[\w\u2019']+", text.lower() if ignore_case else text)
        self.set_target(len(words) or 1)
        counts: Counter[str] = Counter()
        for index, word in enumerate(words, 1):
            counts[word] += 1
            if index % 500 == 0:
                self.set_progress(index)
        self.set_progress(len(words) or 1)
        return {"words": len(words), "unique": len(counts), "top": dict(counts.most_common(top))}


_CHECKS = [
    ("info", "Reading the configuration"),
    ("success", "Database reachable in 12 ms"),
    ("info", "Checking 3 queues"),
    ("warning", "Queue “emails” has 1,204 waiting messages"),
    ("success", "Cache hit rate 97%"),
    ("info", "Verifying certificates"),
    ("warning", "Certificate for api.example.com expires in 9 days"),
    ("success", "Disk usage 41%"),
    ("error", "Backup of last night is missing"),
    ("info", "Summarising"),
]


class Report(Task):
    """Run a health check that posts a message per step, at several levels."""

    name = "report"
    inputs = {
        "steps": IntParameter(
            minimum=1,
            maximum=len(_CHECKS),
            required=False,
            default=6,
            title="Steps",
            description=f"How many checks to run, from 1 to {len(_CHECKS)}.",
        ),
        "detail": ChoiceParameter(
            ("summary", "normal", "verbose"),
            required=False,
            default="normal",
            title="Detail",
            description="Summary posts warnings and errors only; verbose adds debug lines.",
        ),
    }
    outputs = {
        "warnings": IntParameter(title="Warnings"),
        "errors": IntParameter(title="Errors"),
    }

    def run(self, steps: int = 6, detail: str = "normal") -> dict[str, int]:
        self.set_target(steps)
        levels: Counter[str] = Counter()
        for index, (level, text) in enumerate(_CHECKS[:steps], 1):
            _sleep(self, 0.4)
            levels[level] += 1
            if detail == "verbose":
                self.add_message(f"Step {index} of {steps}", "debug")
            if detail != "summary" or level in ("warning", "error"):
                self.add_message(text, level)
            self.inc_progress()
        return {"warnings": levels["warning"], "errors": levels["error"]}


class Flaky(Task):
    """Work for a while, then fail with a clear error."""

    name = "flaky"
    inputs = {
        "fail_at": IntParameter(
            minimum=0,
            maximum=100,
            required=False,
            default=60,
            title="Fail at (%)",
            description="How far to get before failing.",
        ),
        "fail": BooleanParameter(
            required=False,
            default=True,
            title="Fail",
            description="Untick to let the task succeed.",
        ),
    }
    outputs = {"steps": IntParameter(title="Steps done")}

    def run(self, fail_at: int = 60, fail: bool = True) -> int:
        self.set_target(100)
        for step in range(1, 101):
            if fail and step == fail_at // 2 + 1:
                self.add_message("The payment service is slow to answer; retrying", "warning")
            if fail and step > fail_at:
                raise ConnectionError(
                    f"Payment service unreachable at step {step} of 100 "
                    "(connection refused after 3 attempts)"
                )
            _sleep(self, 0.02)
            self.set_progress(step)
        return 100


class LongJob(Task):
    """A long job to cancel: it checks for cancellation every tenth of a second."""

    name = "long-job"
    inputs = {
        "seconds": IntParameter(
            minimum=5,
            maximum=600,
            required=False,
            default=60,
            title="Duration (s)",
            description="How long the job runs if nobody cancels it.",
        )
    }
    outputs = {"elapsed": FloatParameter(title="Elapsed (s)")}

    def run(self, seconds: int = 60) -> float:
        began = time.monotonic()
        self.set_target(seconds)
        for second in range(1, seconds + 1):
            _sleep(self, 1.0)
            self.set_progress(second)
            if second % 10 == 0:
                self.add_message(f"{second} of {seconds} seconds done")
        return round(time.monotonic() - began, 2)
