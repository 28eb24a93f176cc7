"""A small client of the task API for end-to-end tests: REST (requests) and WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import requests
import websockets

TERMINAL = ("succeeded", "failed", "cancelled")


class RestClient:
    """Calls the REST API as one user (HTTP basic auth)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = (username, password)

    def start(self, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(
            f"{self.base_url}/tasks/", json={"task": task, "inputs": inputs}, timeout=10
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def get(self, uuid: str) -> requests.Response:
        return self.session.get(f"{self.base_url}/tasks/{uuid}/", timeout=10)

    def wait(self, uuid: str, timeout: float = 30) -> dict[str, Any]:
        """Poll until the task is terminal; returns every distinct state seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.get(uuid).json()
            if task["status"] in TERMINAL:
                return dict(task)
            time.sleep(0.05)
        raise AssertionError(f"task {uuid} did not finish within {timeout} s: {task}")


def apply(task: dict[str, Any] | None, frame: dict[str, Any]) -> dict[str, Any] | None:
    """Apply a server frame to the client's copy of a task (docs/protocol.md); None on a gap."""
    if frame["type"] == "snapshot":
        return dict(frame["task"])
    if task is None or frame["seq"] <= task["seq"]:
        return task
    if frame.get("base", frame["seq"] - 1) != task["seq"]:
        return None
    task = {**task, **frame["set"], "seq": frame["seq"]}
    task["messages"] = [*task["messages"], *(entry["value"] for entry in frame["append"])]
    task["message_log"] = [*task["message_log"], *frame["append"]]
    return task


async def watch(
    ws_url: str,
    cookie: str,
    origin: str,
    uuid: str,
    *,
    timeout: float = 30,
    on_frame: Callable[[dict[str, Any]], None] | None = None,
    max_frames: int | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Watch one task until it is terminal (or ``max_frames``); reconnects when the socket drops."""
    frames: list[dict[str, Any]] = []
    task: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(
                f"{ws_url}/ws/tasks/",
                additional_headers={"Cookie": cookie, "Origin": origin},
                open_timeout=5,
            ) as socket:
                await socket.send(json.dumps({"type": "subscribe", "uuid": uuid}))
                while time.monotonic() < deadline:
                    raw = await asyncio.wait_for(
                        socket.recv(), timeout=max(deadline - time.monotonic(), 0.01)
                    )
                    frame = json.loads(raw)
                    frames.append(frame)
                    if on_frame is not None:
                        on_frame(frame)
                    if frame["type"] == "error":
                        return None, frames
                    task = apply(task, frame)
                    if task is None:  # a gap: ask for a fresh snapshot
                        await socket.send(json.dumps({"type": "subscribe", "uuid": uuid}))
                        continue
                    if task["status"] in TERMINAL or (max_frames and len(frames) >= max_frames):
                        return task, frames
        except (TimeoutError, OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
            # Dropped, or refused while a service restarts: reconnect (docs/protocol.md).
            await asyncio.sleep(0.2)
    raise AssertionError(f"no terminal state for {uuid} within {timeout} s; frames: {frames[-5:]}")
