"""The turns of concurrent passes (``tests/passes.py``): a lone test runs with no other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests import passes
from tests.passes import Turns


def _taken(turns: Turns, *, alone: bool) -> threading.Event:
    """Take a turn in a thread; the event is set once it is taken."""
    taken = threading.Event()

    def take() -> None:
        turns.take(alone=alone)
        taken.set()

    threading.Thread(target=take, daemon=True).start()
    return taken


def test_a_lone_test_waits_for_the_running_test_and_the_next_waits_for_it(
    tmp_path: Path,
) -> None:
    # Two opens of the files lock each other out as two processes would.
    first, second, third = Turns(tmp_path), Turns(tmp_path), Turns(tmp_path)
    try:
        first.take(alone=False)
        lone = _taken(second, alone=True)
        assert not lone.wait(0.3)  # the other pass's test runs on
        shared = _taken(third, alone=False)
        assert not shared.wait(0.3)  # no new test starts while a lone one waits
        first.give_back()
        assert lone.wait(5)
        assert not shared.wait(0.3)  # nor while it runs
        second.give_back()
        assert shared.wait(5)
        third.give_back()
    finally:
        for turns in (first, second, third):
            turns.close()


def test_tests_that_are_not_alone_run_together(tmp_path: Path) -> None:
    first, second = Turns(tmp_path), Turns(tmp_path)
    try:
        first.take(alone=False)
        assert _taken(second, alone=False).wait(5)
        first.give_back()
        second.give_back()
    finally:
        first.close()
        second.close()


def test_waiting_for_a_turn_inside_a_test_stops_the_timeout_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-timeout's signal method is an interval timer; it is paused while ``alone()``
    waits for the other pass, and the time left is restored after."""
    import signal

    ours, theirs = Turns(tmp_path), Turns(tmp_path)
    monkeypatch.setattr(passes, "_turns", ours)
    alarms: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: alarms.append(signum))
    try:
        ours.take(alone=False)
        theirs.take(alone=False)  # the other pass's test runs on for 0.5 s
        threading.Timer(0.5, theirs.give_back).start()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with passes.alone():
            left, _ = signal.getitimer(signal.ITIMER_REAL)
            assert 0 < left <= 0.3
            next_test = _taken(theirs, alone=False)
            assert not next_test.wait(0.1)  # alone now
        signal.setitimer(signal.ITIMER_REAL, 0)
        assert alarms == []
        assert next_test.wait(5)
        theirs.give_back()
        ours.give_back()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        ours.close()
        theirs.close()
