"""In Chromium: a page whose socket is open starts tasks with a ``start`` frame, no POST.

Same stack and lab page as ``tests/test_browser.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.test_browser import TIMEOUT_MS, Alice, alice, assert_counted, run, uuid_of

__all__ = ["alice"]  # the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def test_start_on_the_open_socket_is_one_frame_and_errors_match_rest(alice: Alice) -> None:
    page = alice.open("lab")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    first = run(page, "countdown", {"count": 12, "delay": 0.3})
    first_uuid = uuid_of(first)
    # Progress shown means the socket is open.
    expect(first.locator(".log")).not_to_be_empty(timeout=TIMEOUT_MS)
    assert len(posts) == 1

    second = run(page, "countdown", {"count": 3, "delay": 0.05})
    second_uuid = uuid_of(second)
    assert_counted(second, 3)
    refused = run(page, "countdown", {"count": "ten"})
    expect(refused.locator(".status")).to_have_text("bad_request", timeout=TIMEOUT_MS)
    expect(refused.locator(".error")).to_have_text(
        "bad_request: inputs.count: A valid integer is required; got 'ten'."
    )
    assert_counted(first, 12)

    traffic = alice.traffic
    assert len(posts) == 1, posts
    assert len(traffic.sockets) == 1
    starts: list[dict[str, Any]] = [f for f in traffic.sent if f["type"] == "start"]
    assert [(f["task"], f["inputs"]) for f in starts] == [
        ("countdown", {"count": 3, "delay": 0.05}),
        ("countdown", {"count": "ten"}),
    ]
    answers = [f for f in traffic.received if f.get("ref") in {s["ref"] for s in starts}]
    assert [f["type"] for f in answers] == ["started", "error"]
    assert answers[0]["uuid"] == second_uuid
    assert answers[1]["status"] == 400
    assert alice.task(second_uuid)["status"] == "succeeded"
    assert {t["uuid"] for t in alice.rest("/tasks/")["results"]} == {first_uuid, second_uuid}
    assert traffic.polls == []
    assert traffic.page_errors == []
