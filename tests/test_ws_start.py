"""The WebSocket ``start`` frame: the rules of ``POST /tasks/``, and the task watched at once.

Most tests run the project's ASGI application in process (in-memory layer,
tasks in the in-process thread pool or Celery against a dead broker); the
last ones run daphne, a Celery worker and Redis, with a real WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from task_api.models import TaskRecord, TaskStatus
from task_api.store.task_json import task_json
from tests.test_api import broker_down  # noqa: F401 (fixture)
from tests.test_consumer import ORIGIN, apply, connect, make_task, receive, until_terminal
from tests.watching import RestClient

pytestmark = pytest.mark.django_db(transaction=True)


class TwoStartsPerMinute(UserRateThrottle):
    """A throttle for the tests: two requests per user and minute."""

    rate = "2/minute"


@pytest.fixture
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    settings.TASK_API_RESYNC_INTERVAL = 0.2


@pytest.fixture
def alice_ws(users: Any, session_cookie: Any) -> list[tuple[bytes, bytes]]:
    return [ORIGIN, (b"cookie", session_cookie(users.alice).header.encode())]


async def ask(communicator: WebsocketCommunicator, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame and return the answer (events of tasks started earlier are skipped)."""
    await communicator.send_json_to(frame)
    while True:
        answer = await receive(communicator)
        if answer["type"] in ("started", "error", "pong") or "ref" in answer:
            return answer


async def answer(communicator: WebsocketCommunicator, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame and return the answer, past the frames of the tasks watched already."""
    await communicator.send_json_to(frame)
    while (reply := await receive(communicator))["type"] in ("update", "snapshot"):
        pass
    return reply


def start_frame(task: str, inputs: Any, ref: str = "r1", **extra: Any) -> dict[str, Any]:
    return {"type": "start", "ref": ref, "task": task, "inputs": inputs, **extra}


def rest_get(user: Any, uuid: str) -> int:
    client = APIClient()
    client.force_authenticate(user)
    return int(client.get(f"/tasks/{uuid}/").status_code)


async def test_start_answers_started_then_streams_to_the_final_state(
    inprocess: None, users: Any, alice_ws: Any
) -> None:
    communicator = await connect(alice_ws)
    started = await ask(communicator, start_frame("countdown", {"count": 5, "delay": 0.05}))
    assert started["type"] == "started"
    assert started["ref"] == "r1"
    assert started["created"] is True
    assert started["uuid"] == started["task"]["uuid"]
    assert started["seq"] == started["task"]["seq"]
    task: dict[str, Any] | None = {**started["task"]}
    frames = await until_terminal(communicator)
    # Joined before the dispatch: every event after the answer, in order, none lost.
    assert [f["type"] for f in frames[:-1]] == ["update"] * (len(frames) - 1)
    for frame in frames:
        task = apply(task, frame)
    stored = await sync_to_async(TaskRecord.objects.get)(uuid=started["uuid"])
    assert task == task_json(stored)
    assert task["status"] == "succeeded"
    assert any(f["type"] == "update" and f["set"].get("progress") for f in frames)
    assert stored.owner_id == users.alice.pk
    assert await sync_to_async(rest_get)(users.alice, started["uuid"]) == 200
    assert await sync_to_async(rest_get)(users.bob, started["uuid"]) == 404
    await communicator.disconnect()


async def test_every_bad_input_is_named(alice_ws: Any) -> None:
    communicator = await connect(alice_ws)
    answer = await ask(communicator, start_frame("countdown", {"delay": "slow", "bogus": 1}))
    assert answer["type"] == "error"
    assert answer["ref"] == "r1"
    assert (answer["code"], answer["status"]) == ("invalid", 400)
    assert sorted(answer["errors"]["inputs"]) == ["bogus", "count", "delay"]
    assert answer["errors"]["inputs"]["count"] == ["This input is required."]
    unknown = await ask(communicator, start_frame("nope", {}, ref="r2"))
    assert unknown["ref"] == "r2"
    assert list(unknown["errors"]) == ["task"]
    assert "nope" in unknown["errors"]["task"][0]
    assert not await sync_to_async(TaskRecord.objects.exists)()
    await communicator.disconnect()


async def test_errors_equal_the_rest_400_body(users: Any, alice_ws: Any) -> None:
    def rest_errors(body: dict[str, Any]) -> Any:
        client = APIClient()
        client.force_authenticate(users.alice)
        response = client.post("/tasks/", body, format="json")
        assert response.status_code == 400
        return response.json()

    communicator = await connect(alice_ws)
    for body in (
        {"task": "countdown", "inputs": {"count": -1, "x": 2}},
        {"task": 5, "inputs": []},
        {"inputs": {}},
    ):
        answer = await ask(communicator, {"type": "start", "ref": "x", **body})
        assert answer["errors"] == await sync_to_async(rest_errors)(body)
    await communicator.disconnect()


async def test_anonymous_connection_is_refused_by_the_permission_classes() -> None:
    communicator = await connect([ORIGIN])
    answer = await ask(communicator, start_frame("add", {"a": 1}))
    assert answer == {
        "type": "error",
        "ref": "r1",
        "code": "forbidden",
        "status": 403,
        "detail": "Authentication credentials were not provided.",
    }
    assert not await sync_to_async(TaskRecord.objects.exists)()
    await communicator.disconnect()


async def test_configured_permissions_let_an_anonymous_session_start(
    inprocess: None, settings: Any
) -> None:
    settings.TASK_API_PERMISSIONS_CLASSES = ["rest_framework.permissions.AllowAny"]
    communicator = await connect([ORIGIN])
    answer = await ask(communicator, start_frame("add", {"a": 1}))
    assert answer["type"] == "started", answer
    stored = await sync_to_async(TaskRecord.objects.get)(uuid=answer["uuid"])
    assert stored.owner_id is None
    assert stored.session_key  # the connection's session owns it
    await communicator.disconnect()


async def test_throttles_of_the_view_apply_and_count_rest_posts_too(
    inprocess: None, monkeypatch: pytest.MonkeyPatch, users: Any, alice_ws: Any
) -> None:
    from django.core.cache import cache

    from task_api.api import access

    def rest_post() -> int:
        client = APIClient()
        client.force_authenticate(users.alice)
        return client.post(
            "/tasks/", {"task": "add", "inputs": {"a": 1}}, format="json"
        ).status_code

    await sync_to_async(cache.clear)()
    # Both doors ask the same throttle classes.
    monkeypatch.setattr(access, "throttles", lambda: [TwoStartsPerMinute()])
    assert await sync_to_async(rest_post)() == 201
    communicator = await connect(alice_ws)
    assert (await ask(communicator, start_frame("add", {"a": 1}, ref="a")))["type"] == "started"
    answer = await ask(communicator, start_frame("add", {"a": 1}, ref="b"))
    assert (answer["type"], answer["code"], answer["status"]) == ("error", "throttled", 429)
    assert "throttled" in answer["detail"]
    assert "errors" not in answer
    assert await sync_to_async(rest_post)() == 429
    assert await sync_to_async(TaskRecord.objects.count)() == 2
    await sync_to_async(cache.clear)()
    await communicator.disconnect()


async def test_per_user_limit(settings: Any, users: Any, alice_ws: Any) -> None:
    settings.TASK_API_MAX_RUNNING_PER_USER = 1
    await sync_to_async(make_task)(users.alice, status=TaskStatus.RUNNING)
    communicator = await connect(alice_ws)
    answer = await ask(communicator, start_frame("add", {"a": 1}))
    assert (answer["code"], answer["status"]) == ("too_many_tasks", 429)
    assert "1 unfinished tasks" in answer["detail"]
    assert await sync_to_async(TaskRecord.objects.count)() == 1
    await communicator.disconnect()


async def test_same_idempotency_key_starts_once(inprocess: None, alice_ws: Any) -> None:
    communicator = await connect(alice_ws)
    first = await ask(communicator, start_frame("add", {"a": 1}, idempotency_key="k-1"))
    # The first task may be running already: its frames can come before the answer.
    again = await answer(
        communicator, start_frame("add", {"a": 1}, ref="r2", idempotency_key="k-1")
    )
    assert first["type"] == again["type"] == "started"
    assert (first["created"], again["created"]) == (True, False)
    assert again["uuid"] == first["uuid"]
    assert again["ref"] == "r2"
    assert await sync_to_async(TaskRecord.objects.count)() == 1
    await communicator.disconnect()


@pytest.mark.usefixtures("broker_down")
async def test_broker_down_is_unavailable_and_leaves_no_record(alice_ws: Any) -> None:
    communicator = await connect(alice_ws)
    answer = await ask(communicator, start_frame("add", {"a": 1}))
    assert (answer["code"], answer["status"]) == ("unavailable", 503)
    assert answer["detail"].startswith("Could not reach the task broker: ")
    assert not await sync_to_async(TaskRecord.objects.exists)()
    assert await ask(communicator, {"type": "ping"}) == {"type": "pong"}
    await communicator.disconnect()


async def test_connection_limit_counts_watched_tasks(
    settings: Any, users: Any, alice_ws: Any
) -> None:
    settings.TASK_API_MAX_SUBSCRIPTIONS = 1
    record = await sync_to_async(make_task)(users.alice)
    communicator = await connect(alice_ws)
    await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
    assert (await receive(communicator))["type"] == "snapshot"
    answer = await ask(communicator, start_frame("add", {"a": 1}, ref="r2"))
    assert (answer["code"], answer["status"], answer["ref"]) == ("too_many", 429, "r2")
    assert await sync_to_async(TaskRecord.objects.count)() == 1
    await communicator.disconnect()


HOSTILE = [
    ({"type": "start", "task": "add", "inputs": {"a": 1}}, None, ["ref"]),
    (start_frame("add", {"a": 1}, ref=7), None, ["ref"]),  # type: ignore[arg-type]
    (start_frame("add", {"a": 1}, ref="r" * 65), None, ["ref"]),
    (start_frame(["add"], {"a": 1}), "r1", ["task"]),
    (start_frame("add", [1, 2]), "r1", ["inputs"]),
    (start_frame("add", "a=1"), "r1", ["inputs"]),
    (start_frame("add", {"a": 1}, idempotency_key=5), "r1", ["idempotency_key"]),
    (start_frame("add", {"a": 1}, idempotency_key="k" * 201), "r1", ["idempotency_key"]),
    (start_frame("add", {"a": 1}, idempotency_key="k\x00"), "r1", ["idempotency_key"]),
    (start_frame("add\x00", {"a": 1}), "r1", ["task"]),
    (start_frame("add", {"a\ud800": 1}), "r1", ["inputs"]),
    (start_frame("add", {"a": "\x00"}), "r1", ["inputs"]),
]


@pytest.mark.parametrize(("frame", "ref", "fields"), HOSTILE)
async def test_hostile_frames_get_an_error_and_the_connection_stays_usable(
    alice_ws: Any, frame: dict[str, Any], ref: str | None, fields: list[str]
) -> None:
    communicator = await connect(alice_ws)
    answer = await ask(communicator, frame)
    assert (answer["type"], answer["code"], answer["status"]) == ("error", "invalid", 400)
    assert answer["ref"] == ref
    assert sorted(answer["errors"]) == fields
    assert not await sync_to_async(TaskRecord.objects.exists)()
    assert await ask(communicator, {"type": "ping"}) == {"type": "pong"}
    await communicator.disconnect()


async def test_deeply_nested_frame_is_invalid_json(alice_ws: Any) -> None:
    communicator = await connect(alice_ws)
    text = '{"type": "start", "ref": "r", "inputs": ' + "[" * 2000 + "]" * 2000 + "}"
    await communicator.send_to(text_data=text)
    answer = await receive(communicator)
    assert (answer["type"], answer["code"]) == ("error", "invalid")
    assert await ask(communicator, {"type": "ping"}) == {"type": "pong"}
    await communicator.disconnect()


# -- daphne, a Celery worker and Redis ------------------------------------------------------


@pytest.mark.services
def test_live_start_streams_progress_and_the_final_state(
    celery_worker: Any, daphne_server: Any, users: Any, session_cookie: Any
) -> None:
    alice = RestClient(daphne_server.url, "alice", "pw-alice")
    bob = RestClient(daphne_server.url, "bob", "pw-bob")
    cookie = session_cookie(users.alice).header

    async def run() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        frames: list[dict[str, Any]] = []
        task: dict[str, Any] | None = None
        async with websockets.connect(
            f"{daphne_server.ws_url}/ws/tasks/",
            additional_headers={"Cookie": cookie, "Origin": daphne_server.url},
        ) as socket:
            frame = start_frame("countdown", {"count": 8, "delay": 0.05}, idempotency_key="live")
            await socket.send(json.dumps(frame))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
                frames.append(frame)
                task = dict(frame["task"]) if frame["type"] == "started" else apply(task, frame)
                if task is not None and task["status"] in ("succeeded", "failed", "cancelled"):
                    break
            # The same key again: the same task, not a new one.
            again = start_frame("countdown", {"count": 8}, ref="again", idempotency_key="live")
            await socket.send(json.dumps(again))
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
        return frames, task

    frames, task = asyncio.run(run())
    started, again = frames[0], frames[-1]
    assert started["type"] == "started"
    assert started["created"] is True
    assert task is not None
    assert task == alice.get(started["uuid"]).json()
    assert task["status"] == "succeeded"
    assert task["progress"] == 8
    assert [f for f in frames[1:-1] if f["type"] == "update" and f["set"].get("progress")]
    assert (again["type"], again["created"], again["uuid"]) == ("started", False, started["uuid"])
    assert bob.get(started["uuid"]).status_code == 404


@pytest.mark.services
def test_live_anonymous_start_is_forbidden(daphne_server: Any) -> None:
    async def run() -> dict[str, Any]:
        async with websockets.connect(
            f"{daphne_server.ws_url}/ws/tasks/", additional_headers={"Origin": daphne_server.url}
        ) as socket:
            await socket.send(json.dumps(start_frame("add", {"a": 1})))
            return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))

    answer = asyncio.run(run())
    assert (answer["code"], answer["status"]) == ("forbidden", 403)
