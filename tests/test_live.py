"""End to end: daphne (or uvicorn), a Celery worker and a private redis-server, real HTTP
and WebSocket. The tests of ``stack`` run on both servers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import websockets

from tests.watching import RestClient, watch

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["daphne_server", "uvicorn_server", "granian_server"])
def stack(
    request: pytest.FixtureRequest, celery_worker: Any, users: Any, session_cookie: Any
) -> dict[str, Any]:
    """The server under test (``"daphne"``: daphne or uvicorn), its clients and cookies."""
    server = request.getfixturevalue(request.param)
    return {
        "alice": RestClient(server.url, "alice", "pw-alice"),
        "bob": RestClient(server.url, "bob", "pw-bob"),
        "alice_cookie": session_cookie(users.alice).header,
        "bob_cookie": session_cookie(users.bob).header,
        "daphne": server,
    }


def test_worker_runs_tasks_to_success_and_failure(stack: dict[str, Any]) -> None:
    alice = stack["alice"]
    ok = alice.start("multi", {"text": "hello"})
    assert ok["status"] == "pending"
    failed = alice.start("fail", {"reason": "disk full"})
    bad = alice.start("bad-output", {"mode": "missing"})
    assert alice.wait(ok["uuid"])["outputs"] == {
        "upper": "HELLO",
        "info": {"text": "hello"},
        "length": 5,
    }
    failure = alice.wait(failed["uuid"])
    assert failure["status"] == "failed"
    assert failure["error"] == {"type": "ValueError", "message": "disk full"}
    assert "traceback" not in failure
    bad_result = alice.wait(bad["uuid"])
    assert bad_result["status"] == "failed"
    assert bad_result["error"]["type"] == "OutputError"
    assert "missing outputs ['label']" in bad_result["error"]["message"]


def test_progress_and_messages_are_seen_while_running(stack: dict[str, Any]) -> None:
    alice = stack["alice"]
    task = alice.start("countdown", {"count": 20, "delay": 0.05})
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = alice.get(task["uuid"]).json()
        seen.add(current["progress"])
        if current["status"] == "succeeded":
            break
        time.sleep(0.05)
    assert current["status"] == "succeeded"
    assert current["progress"] == 20
    assert len(seen - {None, 0, 20}) >= 3, (
        f"too few intermediate progress values: {sorted(seen, key=str)}"
    )
    messages = alice.wait(alice.start("messages", {"lines": ["a", "b", "c"]})["uuid"])
    assert messages["messages"] == ["a", "b", "c"]


def test_websocket_stream_ends_equal_to_rest(stack: dict[str, Any]) -> None:
    alice, daphne = stack["alice"], stack["daphne"]
    task = alice.start("countdown", {"count": 10, "delay": 0.05})
    final, frames = asyncio.run(
        watch(daphne.ws_url, stack["alice_cookie"], daphne.url, task["uuid"])
    )
    assert final is not None
    assert final == alice.get(task["uuid"]).json()
    assert final["progress"] == 10
    progress = [
        f["set"]["progress"]
        for f in frames
        if f["type"] == "update" and f["set"].get("progress") is not None  # None: target set first
    ]
    assert progress, "no live progress frames"
    assert progress == sorted(progress)


def test_second_user_is_refused_on_the_websocket(stack: dict[str, Any]) -> None:
    task = stack["alice"].start("countdown", {"count": 2})
    daphne = stack["daphne"]
    final, frames = asyncio.run(watch(daphne.ws_url, stack["bob_cookie"], daphne.url, task["uuid"]))
    assert final is None
    assert frames == [
        {
            "type": "error",
            "uuid": task["uuid"],
            "code": "not_found",
            "detail": f"No task {task['uuid']!r}.",
        }
    ]
    assert stack["bob"].get(task["uuid"]).status_code == 404


def test_reconnect_in_the_middle_resumes(stack: dict[str, Any]) -> None:
    alice, daphne = stack["alice"], stack["daphne"]
    task = alice.start("countdown", {"count": 30, "delay": 0.05})
    first, _ = asyncio.run(
        watch(daphne.ws_url, stack["alice_cookie"], daphne.url, task["uuid"], max_frames=3)
    )
    assert first is not None
    assert first["status"] == "running"
    final, frames = asyncio.run(
        watch(daphne.ws_url, stack["alice_cookie"], daphne.url, task["uuid"])
    )
    assert frames[0]["type"] == "snapshot"
    assert final == alice.get(task["uuid"]).json()
    assert final["status"] == "succeeded"


def test_foreign_origin_is_refused(stack: dict[str, Any]) -> None:
    daphne = stack["daphne"]

    async def connect() -> None:
        async with websockets.connect(
            f"{daphne.ws_url}/ws/tasks/",
            additional_headers={"Cookie": stack["alice_cookie"], "Origin": "http://evil.example"},
        ):
            pass

    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(connect())


def test_redis_restart_during_a_task_still_delivers_the_outcome(
    stack: dict[str, Any], redis_server: Any
) -> None:
    alice, daphne = stack["alice"], stack["daphne"]
    task = alice.start("sleep", {"seconds": 3})
    alice_cookie = stack["alice_cookie"]

    def restart_soon() -> None:
        time.sleep(1.0)
        redis_server.restart()

    restarter = threading.Thread(target=restart_soon)
    restarter.start()
    final, _ = asyncio.run(watch(daphne.ws_url, alice_cookie, daphne.url, task["uuid"], timeout=45))
    restarter.join()
    assert final is not None
    assert final["status"] == "succeeded"
    assert final == alice.get(task["uuid"]).json()


@pytest.fixture(scope="module")
def second_daphne(services_env: dict[str, str], tmp_path_factory: Any) -> Any:
    """Another daphne process on the same Redis and database: a second node."""
    from tests.services import DaphneServer

    server = DaphneServer(services_env, tmp_path_factory.mktemp("daphne2") / "daphne.log")
    server.start()
    yield server
    server.stop()


def test_a_task_started_on_one_process_is_watched_from_both(
    stack: dict[str, Any], second_daphne: Any
) -> None:
    alice, first = stack["alice"], stack["daphne"]
    task = alice.start("countdown", {"count": 20, "delay": 0.05})

    async def everyone() -> list[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
        watchers = [
            watch(server.ws_url, stack["alice_cookie"], server.url, task["uuid"])
            for server in (first, second_daphne)
            for _ in range(10)
        ]
        refused = watch(second_daphne.ws_url, stack["bob_cookie"], second_daphne.url, task["uuid"])
        return await asyncio.gather(*watchers, refused)

    *results, (bob_final, bob_frames) = asyncio.run(everyone())
    stored = alice.get(task["uuid"]).json()
    assert stored["status"] == "succeeded"
    for final, frames in results:
        assert final == stored
        assert any(f["type"] == "update" for f in frames), "no live update on this node"
    assert bob_final is None
    assert [f["code"] for f in bob_frames] == ["not_found"]


def test_daphne_joins_task_groups_on_the_layer_the_settings_name(
    stack: dict[str, Any], redis_server: Any
) -> None:
    """``TASK_API_TEST_LAYER`` reaches the processes the tests start: a watched task's
    group is a pub/sub channel on ``RedisPubSubChannelLayer``, a sorted set on
    ``RedisChannelLayer``."""
    import redis

    from task_api import protocol
    from tests.project.settings import TEST_LAYER

    alice, daphne = stack["alice"], stack["daphne"]
    task = alice.start("countdown", {"count": 10, "delay": 0.05})
    group = protocol.task_group(task["uuid"])
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    seen: dict[str, set[str]] = {}

    def look(frame: dict[str, Any]) -> None:
        if frame["type"] == "snapshot" and not seen:  # sent once daphne is a member
            seen["channels"] = set(client.pubsub_channels("asgi*"))
            seen["keys"] = set(client.keys("asgi:group:*"))

    final, _ = asyncio.run(
        watch(daphne.ws_url, stack["alice_cookie"], daphne.url, task["uuid"], on_frame=look)
    )
    client.close()
    assert final is not None
    assert final["status"] == "succeeded"
    if TEST_LAYER == "pubsub":
        assert f"asgi__group__{group}" in seen["channels"]
        assert not seen["keys"]
    else:
        assert f"asgi:group:{group}" in seen["keys"]
        assert not {c for c in seen["channels"] if "__group__" in c}
