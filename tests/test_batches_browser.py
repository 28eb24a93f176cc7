"""Batches in Chromium: ``TaskAPI.runAll`` and ``watchBatch`` against daphne, Celery and Redis."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_browser import Alice, alice  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

ITEMS = [
    {"task": "countdown", "inputs": {"count": 1 + index % 5}}
    if index % 10
    else {"task": "fail", "inputs": {"reason": f"no {index}"}}
    for index in range(100)
]

RUN_ALL = """async (items) => {
  const seen = []
  const result = await TaskAPI.runAll(items, { onProgress: (b) => seen.push(b) })
  return { seen, result }
}"""


def check_run(browser_user: Alice, outcome: dict[str, Any]) -> dict[str, Any]:
    batch, tasks, seen = outcome["result"]["batch"], outcome["result"]["tasks"], outcome["seen"]
    rest = browser_user.rest(f"/tasks/batches/{batch['uuid']}/")
    assert batch == rest
    assert rest["counts"] == {
        "pending": 0,
        "running": 0,
        "succeeded": 90,
        "failed": 10,
        "cancelled": 0,
    }
    assert [task["uuid"] for task in tasks] == rest["tasks"]
    assert [task["task"] for task in tasks] == [item["task"] for item in ITEMS]
    assert rest["progress"] == sum(task["progress"] or 0 for task in tasks)
    assert (
        rest["target"]
        == sum(task["target"] or 0 for task in tasks)
        == sum(item["inputs"]["count"] for item in ITEMS if item["task"] == "countdown")
    )
    assert [task["error"]["message"] for task in tasks if task["status"] == "failed"] == [
        f"no {index}" for index in range(0, 100, 10)
    ]
    seqs = [state["seq"] for state in seen]
    assert seqs == sorted(set(seqs)), "progress callbacks out of order"
    assert seen[-1] == batch
    assert browser_user.traffic.page_errors == []
    return rest


def test_run_all_over_the_websocket(alice: Alice) -> None:  # noqa: F811
    page = alice.open("lab")
    outcome = page.evaluate(RUN_ALL, ITEMS)
    rest = check_run(alice, outcome)
    frames = [f for f in alice.traffic.received if f.get("batch") == rest["uuid"]]
    assert frames[0]["type"] == "batch_snapshot"
    # The final state came over the socket (an update, or a snapshot after a re-check).
    assert (frames[-1].get("set") or frames[-1]["data"])["status"] == "failed"
    assert alice.traffic.sent.count({"type": "subscribe", "batch": rest["uuid"]}) == 1
    assert alice.traffic.polls == []


def test_run_all_with_websockets_blocked(alice: Alice) -> None:  # noqa: F811
    alice.page.add_init_script("window.WebSocket = undefined")
    page = alice.open("lab", "?poll=200")
    outcome = page.evaluate(RUN_ALL, ITEMS)
    check_run(alice, outcome)
    assert alice.traffic.sockets == []


def test_watch_batch_after_a_reload(alice: Alice) -> None:  # noqa: F811
    page = alice.open("lab")
    started = page.evaluate(
        """async () => {
      const p = TaskAPI.runAll([{ task: 'countdown', inputs: { count: 20, delay: 0.05 } }])
      return (await p.started).uuid
    }"""
    )
    page.reload()
    outcome = page.evaluate("async (uuid) => (await TaskAPI.watchBatch(uuid)).batch", started)
    assert outcome["status"] == "succeeded"
    assert outcome["progress"] == 20
    assert outcome["uuid"] == started
