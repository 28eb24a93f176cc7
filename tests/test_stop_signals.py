"""Cancelled and TaskTimeout are stop signals: ``except Exception`` in a task body running
on a real Celery worker cannot swallow them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.watching import RestClient

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alice(celery_worker: Any, daphne_server: Any, users: Any) -> RestClient:
    return RestClient(daphne_server.url, "alice", "pw-alice")


def test_cancel_is_not_swallowed_by_except_exception(alice: RestClient) -> None:
    task = alice.start("swallower", {"seconds": 30})
    deadline = time.monotonic() + 20
    while not alice.get(task["uuid"]).json()["progress"]:
        assert time.monotonic() < deadline, "the task never reported progress"
        time.sleep(0.05)
    cancel = alice.session.post(f"{alice.base_url}/tasks/{task['uuid']}/cancel/", timeout=10)
    assert cancel.status_code == 202, cancel.text
    final = alice.wait(task["uuid"], timeout=20)
    assert final["status"] == "cancelled"
    assert final["error"]["type"] == "Cancelled"


def test_soft_time_limit_is_not_swallowed_by_except_exception(alice: RestClient) -> None:
    final = alice.wait(alice.start("limited-swallower", {"seconds": 30})["uuid"], timeout=20)
    assert final["status"] == "failed"
    assert final["error"]["type"] == "TaskTimeout"
