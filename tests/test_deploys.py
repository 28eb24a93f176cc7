"""Deploys: a Celery worker stopped with SIGTERM mid-task, then a new one started.

The worker here has a soft shutdown timeout (``worker_soft_shutdown_timeout``,
as a deployment sets it below its supervisor's grace period): tasks that end
within it succeed; the others are stopped and end with a clear reason, and
``retry_safe`` ones run again on the next worker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import Stack, durable_stack
from tests.watching import RestClient

GRACE = 3.0


@pytest.fixture(scope="module")
def stack(live_db: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "TASK_API_TEST_SOFT_SHUTDOWN": str(GRACE),
        # Heartbeats every 2.5 s: the next worker takes the retry_safe task over sooner.
        "TASK_API_TEST_STALE_AFTER": "10",
        "REMAP_SIGTERM": "SIGQUIT",
    }
    with durable_stack(live_db, tmp_path_factory, "deploy", env=env, concurrency=3) as started:
        yield started


def _wait_running(client: RestClient, uuids: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(client.get(u).json()["status"] == "running" for u in uuids):
            return
        time.sleep(0.05)
    raise AssertionError([client.get(u).json()["status"] for u in uuids])


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_sigterm_mid_task(stack: Stack, users: Any) -> None:
    alice = RestClient(stack.daphne.url, "alice", "pw-alice")
    finishing = alice.start("countdown", {"count": 4, "delay": 0.25})["uuid"]
    endless = alice.start("sleep", {"seconds": 60})["uuid"]
    rerun = alice.start("retry-safe-sleep", {"seconds": 6})["uuid"]
    _wait_running(alice, [finishing, endless, rerun])
    os.kill(stack.worker.pid, signal.SIGTERM)
    started = time.monotonic()
    while stack.worker.running and time.monotonic() - started < 30:
        time.sleep(0.1)
    assert not stack.worker.running, "warm shutdown did not end"
    stopped_after = time.monotonic() - started
    done = alice.wait(finishing)
    assert done["status"] == "succeeded", done
    assert done["outputs"] == {"counted": 4}
    assert stopped_after < GRACE + 5, stopped_after
    lost = alice.wait(endless, timeout=5)
    assert lost["status"] == "failed", lost
    assert lost["error"] == {
        "type": "WorkerLost",
        "message": "The worker was shut down before the task finished.",
    }
    # The next worker runs the retry_safe task again, to success.
    stack.worker.start()
    again = alice.wait(rerun, timeout=30)
    assert again["status"] == "succeeded", again
    assert again["attempt"] == 2
    assert again["outputs"] == {"attempt": 2}
