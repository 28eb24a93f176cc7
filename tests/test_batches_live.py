"""Batches end to end: daphne, a Celery worker and a private redis-server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets

from task_api.models import TaskRecord
from tests.watching import RestClient

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

UNFINISHED = ("pending", "running")


@pytest.fixture
def stack(
    celery_worker: Any, daphne_server: Any, users: Any, session_cookie: Any
) -> dict[str, Any]:
    return {
        "alice": RestClient(daphne_server.url, "alice", "pw-alice"),
        "bob": RestClient(daphne_server.url, "bob", "pw-bob"),
        "alice_cookie": session_cookie(users.alice).header,
        "bob_cookie": session_cookie(users.bob).header,
        "daphne": daphne_server,
    }


def start_batch(client: RestClient, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.session.post(f"{client.base_url}/tasks/batches/", json={"tasks": tasks})
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_batch(client: RestClient, uuid: str) -> dict[str, Any]:
    response = client.session.get(f"{client.base_url}/tasks/batches/{uuid}/", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def watch_batch(
    daphne: Any, cookie: str, uuid: str, *, timeout: float = 60
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Watch a batch until its state is terminal; reconnects if the socket drops."""
    frames: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(
                f"{daphne.ws_url}/ws/tasks/",
                additional_headers={"Cookie": cookie, "Origin": daphne.url},
                open_timeout=5,
            ) as socket:
                await socket.send(json.dumps({"type": "subscribe", "batch": uuid}))
                while time.monotonic() < deadline:
                    raw = await asyncio.wait_for(
                        socket.recv(), timeout=max(deadline - time.monotonic(), 0.01)
                    )
                    frame = json.loads(raw)
                    frames.append(frame)
                    if frame["type"] == "error":
                        return None, frames
                    if state is not None:
                        assert frame["seq"] > state["seq"], "frames out of order"
                    state = {**(state or {}), **(frame.get("data") or frame["set"])}
                    if state["status"] not in UNFINISHED:
                        return state, frames
        except (TimeoutError, OSError, websockets.ConnectionClosed):
            await asyncio.sleep(0.2)
    raise AssertionError(f"batch {uuid} did not end within {timeout} s; frames: {frames[-3:]}")


def test_a_hundred_tasks_end_with_exact_counts_over_rest_and_websocket(
    stack: dict[str, Any],
) -> None:
    alice = stack["alice"]
    tasks = [
        {"task": "countdown", "inputs": {"count": 1 + index % 7}}
        if index % 10 < 8
        else {"task": "fail", "inputs": {"reason": f"no {index}"}}
        if index % 10 == 8
        else {"task": "add", "inputs": {"a": index}}
        for index in range(100)
    ]
    started = time.monotonic()
    batch = start_batch(alice, tasks)
    assert batch["total"] == 100
    final, frames = asyncio.run(watch_batch(stack["daphne"], stack["alice_cookie"], batch["uuid"]))
    elapsed = time.monotonic() - started
    assert final is not None
    rest = get_batch(alice, batch["uuid"])
    assert {**final, "tasks": rest["tasks"]} == rest
    assert rest["counts"] == {
        "pending": 0,
        "running": 0,
        "succeeded": 90,
        "failed": 10,
        "cancelled": 0,
    }
    assert rest["status"] == "failed"
    records = list(TaskRecord.objects.filter(batch__uuid=batch["uuid"]))
    assert rest["progress"] == sum(r.progress for r in records if r.progress is not None)
    assert rest["target"] == sum(r.target for r in records if r.target is not None)
    assert rest["target"] == sum(1 + index % 7 for index in range(100) if index % 10 < 8)
    assert sorted(rest["tasks"]) == sorted(str(r.uuid) for r in records)
    assert frames[0]["type"] == "batch_snapshot"
    # Coalesced: far fewer frames than the hundreds of task transitions.
    assert len(frames) < 10 + elapsed * 2 * 2 / 0.25, (len(frames), elapsed)


def test_another_user_cannot_watch_a_batch(stack: dict[str, Any]) -> None:
    batch = start_batch(stack["alice"], [{"task": "add", "inputs": {"a": 1}}])
    final, frames = asyncio.run(watch_batch(stack["daphne"], stack["bob_cookie"], batch["uuid"]))
    assert final is None
    assert frames == [
        {
            "type": "error",
            "batch": batch["uuid"],
            "code": "not_found",
            "detail": f"No batch {batch['uuid']!r}.",
        }
    ]


def test_cancel_mid_way_ends_the_batch_cancelled(stack: dict[str, Any]) -> None:
    alice = stack["alice"]
    batch = start_batch(
        alice, [{"task": "countdown", "inputs": {"count": 40, "delay": 0.05}} for _ in range(6)]
    )
    deadline = time.monotonic() + 20
    while get_batch(alice, batch["uuid"])["counts"]["running"] == 0:
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.05)
    response = alice.session.post(f"{alice.base_url}/tasks/batches/{batch['uuid']}/cancel/")
    assert response.status_code == 202
    final, _ = asyncio.run(watch_batch(stack["daphne"], stack["alice_cookie"], batch["uuid"]))
    assert final is not None
    assert final["status"] == "cancelled"
    assert final["counts"]["cancelled"] == 6 - final["counts"]["succeeded"]
    assert final["counts"]["cancelled"] >= 4
    assert {**final, "tasks": batch["tasks"]} == get_batch(alice, batch["uuid"])


def test_broker_down_answers_503_and_starts_nothing(
    stack: dict[str, Any], redis_server: Any
) -> None:
    from task_api.models import TaskBatch

    alice = stack["alice"]
    before = (TaskRecord.objects.count(), TaskBatch.objects.count())
    redis_server.stop()
    try:
        began = time.monotonic()
        response = alice.session.post(
            f"{alice.base_url}/tasks/batches/",
            json={"tasks": [{"task": "add", "inputs": {"a": n}} for n in range(200)]},
            timeout=60,
        )
        elapsed = time.monotonic() - began
    finally:
        redis_server.start()
    assert response.status_code == 503, response.text
    assert "broker" in response.json()["detail"]
    assert elapsed < 10, "one broker timeout, not one per task"
    assert (TaskRecord.objects.count(), TaskBatch.objects.count()) == before
    batch = start_batch(alice, [{"task": "add", "inputs": {"a": 1}}])
    final, _ = asyncio.run(watch_batch(stack["daphne"], stack["alice_cookie"], batch["uuid"]))
    assert final is not None
    assert final["status"] == "succeeded"


def test_children_started_by_a_worker_join_the_batch_before_it_ends(
    stack: dict[str, Any],
) -> None:
    alice = stack["alice"]
    batch = start_batch(alice, [{"task": "spawn", "inputs": {"count": 4}}])
    final, _ = asyncio.run(watch_batch(stack["daphne"], stack["alice_cookie"], batch["uuid"]))
    assert final is not None
    rest = get_batch(alice, batch["uuid"])
    assert {**final, "tasks": rest["tasks"]} == rest
    assert (rest["status"], rest["total"], rest["progress"]) == ("succeeded", 5, 1 + 2 + 3 + 4)
    assert rest["tasks"][0] == batch["tasks"][0]
