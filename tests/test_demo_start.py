"""``scripts/demo``: a light virtualenv, a port check that knows TIME-WAIT from
listening, a failed task's traceback logged once, the OpenAPI document."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from typing import Any

import pytest

from tests.services import free_port
from tests.test_demo import REPO_ROOT, start_demo  # noqa: F401  (the fixture)

pytestmark = pytest.mark.services


def _time_wait_port() -> int:
    """A port nobody listens on that has a connection in TIME-WAIT on the server side."""
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server closes first: its side goes to TIME-WAIT
        client.recv(1)
        client.close()
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # what the old check took for a used port
    return port


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
        return result


def test_demo_port_check_log_and_packages(start_demo: Any) -> None:  # noqa: F811
    port = _time_wait_port()
    demo = start_demo(DEMO_PORT=str(port))
    assert demo.url == f"http://127.0.0.1:{port}", demo.output
    assert "is taken" not in demo.output
    task = _post(f"{demo.url}/tasks/", {"task": "flaky", "inputs": {"fail_at": 0}})
    deadline = time.monotonic() + 30
    while demo.output.count("Traceback") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # a second copy would follow at once
    assert demo.output.count("Traceback (most recent call last)") == 1, demo.output
    assert f"Task {task['uuid']} (flaky) failed" in demo.output

    with urllib.request.urlopen(f"{demo.url}/tasks/catalog/", timeout=10) as answer:
        titles = {entry["name"]: entry["title"] for entry in json.load(answer)}
    assert titles["demo.functions.convert_temperatures"] == "Convert temperatures"
    assert titles["word-stats"] == "Word stats"

    # The demo sets no DEFAULT_SCHEMA_CLASS: the OpenAPI document works all the same.
    with urllib.request.urlopen(f"{demo.url}/tasks/schema/?format=json", timeout=10) as answer:
        assert json.load(answer)["info"]["version"] == "2.0.0"

    site = next((REPO_ROOT / ".venv-demo" / "lib").glob("python3*/site-packages"))
    installed = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    assert {"django", "daphne", "celery", "channels_redis"} <= installed
    assert not {"pytest", "mypy", "ruff", "playwright", "schemathesis", "hypothesis"} & installed
