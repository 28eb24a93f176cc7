"""Fan-out end to end: many WebSocket clients of one task on a real daphne, and the warning
about per-message deflate on a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from task_api.consumers.server_costs import FIX
from tests.services import DaphneServer, UvicornServer
from tests.watching import TERMINAL, RestClient, apply

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WATCHERS = 200
AFTER_FINAL = 0.5  # seconds each client listens on after the final state


async def _watchers(server: Any, cookie: str, start: Any) -> list[dict[str, Any]]:
    """``WATCHERS`` clients subscribe to the task ``start()`` starts; what each saw."""
    sockets = [
        await websockets.connect(
            f"{server.ws_url}/ws/tasks/",
            additional_headers={"Cookie": cookie, "Origin": server.url},
            compression=None,
            max_queue=None,
        )
        for _ in range(WATCHERS)
    ]
    uuid = await asyncio.to_thread(start)

    async def follow(socket: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {"frames": [], "task": None, "gaps": 0, "after": 0}
        await socket.send(json.dumps({"type": "subscribe", "uuid": uuid}))
        deadline = time.monotonic() + 60
        while seen["task"] is None or seen["task"]["status"] not in TERMINAL:
            raw = await asyncio.wait_for(socket.recv(), deadline - time.monotonic())
            frame = json.loads(raw)
            seen["frames"].append(frame)
            task = apply(seen["task"], frame)
            seen["gaps"] += task is None
            seen["task"] = task
            if task is None:
                break
        try:
            while True:
                await asyncio.wait_for(socket.recv(), AFTER_FINAL)
                seen["after"] += 1
        except TimeoutError:
            pass
        return seen

    try:
        return list(await asyncio.gather(*(follow(socket) for socket in sockets)))
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))


def test_live_many_watchers_of_one_task_all_end_equal_to_rest(
    daphne_server: DaphneServer, celery_worker: Any, users: Any, session_cookie: Any
) -> None:
    alice = RestClient(daphne_server.url, "alice", "pw-alice")

    def start() -> str:
        return str(alice.start("countdown", {"count": 40, "delay": 0.02})["uuid"])

    cookie = session_cookie(users.alice).header
    seen = asyncio.run(_watchers(daphne_server, cookie, start))
    uuid = seen[0]["frames"][0]["uuid"]
    stored = alice.wait(uuid)
    assert stored["status"] == "succeeded"
    for one in seen:
        assert one["gaps"] == 0  # every frame applied on the one before: order kept
        assert one["after"] == 0  # nothing after the final state
        assert one["task"] == stored
        seqs = [frame["seq"] for frame in one["frames"]]
        assert seqs == sorted(set(seqs))
    # Updates merge for the clients that fall behind: never more frames than events.
    assert max(len(one["frames"]) for one in seen) <= stored["seq"] + 1


async def _connect_twice(server: Any) -> None:
    """Two connections that offer per-message deflate, as browsers do."""
    for _ in range(2):
        async with websockets.connect(
            f"{server.ws_url}/ws/tasks/", additional_headers={"Origin": server.url}
        ) as socket:
            await socket.send(json.dumps({"type": "ping"}))
            assert json.loads(await socket.recv())["type"] == "pong"


def _warnings(log: Path) -> int:
    return log.read_text(errors="replace").count(f"Start uvicorn with {FIX}.")


def test_live_uvicorn_compressing_websockets_is_warned_of_once(
    daphne_server: DaphneServer, services_env: dict[str, str], tmp_path: Path
) -> None:
    compressing = UvicornServer(services_env, tmp_path / "compressing.log")  # its default
    lean = UvicornServer(services_env, tmp_path / "lean.log", FIX.split())
    for server in (compressing, lean):
        server.start()
    try:
        for server in (compressing, lean, daphne_server):
            asyncio.run(_connect_twice(server))
    finally:
        compressing.stop()
        lean.stop()
    assert _warnings(compressing.log_path) == 1
    assert _warnings(lean.log_path) == 0
    assert _warnings(daphne_server.log_path) == 0
