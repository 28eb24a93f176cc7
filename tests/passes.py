"""Turns between passes of the suite that share the machine (``scripts/test`` runs
two at once): the function of a test marked ``alone``, or a block of a test in
``with alone():``, runs while the other pass runs no test.

``TASK_API_TEST_TURNS`` names a directory that the passes share. Every test holds
a shared ``flock`` on a file in it from its setup to its teardown; running alone
holds an exclusive one instead, so the other pass waits at its next test
boundary. A second file is the gate: a test waiting to run alone closes it, so
that the other pass cannot keep it waiting with test after test. Without the
variable (a single pytest) nothing is locked. Waiting does not count against
pytest-timeout's timer, and the time waited is reported at the end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO

import pytest

ENV = "TASK_API_TEST_TURNS"
MARK = "alone"


class Turns:
    """The two lock files of a directory shared by the passes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._gate: IO[bytes] = (directory / "gate.lock").open("ab")
        self._turn: IO[bytes] = (directory / "turn.lock").open("ab")
        self.waited = 0.0  # seconds spent waiting for the other pass's lone tests
        self.alone = 0.0  # seconds spent in this pass's own lone tests

    def take(self, *, alone: bool) -> None:
        """Block until this test may run: with any others (shared), or alone (exclusive)."""
        began = time.monotonic()
        fcntl.flock(self._gate, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            fcntl.flock(self._turn, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.waited += time.monotonic() - began

    def give_back(self) -> None:
        """End this test's turn."""
        fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self) -> None:
        self._gate.close()
        self._turn.close()


_turns: Turns | None = None


@contextlib.contextmanager
def _timer_paused() -> Iterator[None]:
    """Stop the clock of pytest-timeout's signal method (an interval timer) meanwhile."""
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left:
            signal.setitimer(signal.ITIMER_REAL, left, interval)


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Run the block while the other pass runs no test: the timed part of a test whose
    longer preparation may share the machine."""
    turns = _turns
    if turns is None:
        yield
        return
    with _timer_paused():
        turns.give_back()  # holding a shared turn, it would wait for itself
        turns.take(alone=True)
    began = time.monotonic()
    try:
        yield
    finally:
        turns.alone += time.monotonic() - began
        with _timer_paused():
            turns.give_back()
            turns.take(alone=False)


def pytest_configure(config: pytest.Config) -> None:
    global _turns
    config.addinivalue_line(
        "markers", f"{MARK}: timing or load: no other pass of scripts/test runs a test meanwhile"
    )
    # Popped: a pytest that a test starts must not wait for its own parent's turn.
    directory = os.environ.pop(ENV, "")
    if directory:
        _turns = Turns(Path(directory))


def pytest_unconfigure(config: pytest.Config) -> None:
    global _turns
    if _turns is not None:
        _turns.close()
        _turns = None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Hold a shared turn from setup to teardown, taken outside pytest-timeout's timer."""
    turns = _turns
    if turns is None:
        yield
        return
    turns.take(alone=False)
    try:
        yield
    finally:
        turns.give_back()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run the test function of a test marked alone by itself; its fixtures are set up
    and torn down while the other pass goes on."""
    if item.get_closest_marker(MARK) is None:
        yield
        return
    with alone():
        yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _turns is not None:
        terminalreporter.write_line(
            f"turns: {_turns.waited:.0f} s waiting for a turn,"
            f" {_turns.alone:.0f} s in tests marked {MARK}"
        )
