"""The JS client's streams snippet (docs/reference/js.md), run in Chromium against daphne
and a Celery worker: the answer shown as it comes, and read on after a reload from the
position kept. ``tests/test_readme.py`` lists this check among those of every block."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.readme_snippets import snippet

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

TIMEOUT_MS = 20_000
STREAMS_JS = (
    Path(__file__).resolve().parent.parent
    / "task_api"
    / "static"
    / "django-task-api.streams.min.js"
)
# What the snippet's task writes: {count: 40}.
ANSWER = "".join(f"t{i} " for i in range(40))


@pytest.fixture
def alice_cookie(users: Users, session_cookie: Callable[[Any], SessionCookie]) -> SessionCookie:
    return session_cookie(users.alice)


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_stream_js_snippet_reads_on_after_a_reload(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    alice_cookie: SessionCookie,
) -> None:
    from tests.test_readme import _LOG_RECORDER, _alice_context

    html = (
        '<script src="/static/django-task-api.streams.min.js"></script>\n'
        f"<script>\n{snippet('stream-js')}</script>\n"
    )
    context = _alice_context(browser, daphne_server, alice_cookie, html)
    context.route(
        "**/static/django-task-api.streams.min.js",
        lambda route: route.fulfill(path=STREAMS_JS, content_type="text/javascript"),
    )
    try:
        page = context.new_page()
        page.add_init_script(_LOG_RECORDER)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sent: list[dict[str, Any]] = []
        page.on(
            "websocket",
            lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))),
        )
        page.goto("/readme-page/")
        page.wait_for_function("readmeLogs.some(a => a[0] >= 10)")
        page.reload()
        page.wait_for_function("readmeLogs.some(a => a[0] == 'done')", timeout=3 * TIMEOUT_MS)
        logs: list[list[Any]] = page.evaluate("readmeLogs")  # since the reload
        assert [args for args in logs if args[0] == "done"] == [["done", 40, ANSWER]]
        offsets = [f["offset"] for f in sent if f.get("type") == "subscribe" and "stream" in f]
        assert offsets[0] == 0, sent
        resumed_at = offsets[-1]
        assert resumed_at >= 10, sent
        # After the reload, the chunks from the position kept on, each once.
        shown = [args for args in logs if isinstance(args[0], int)]
        assert shown, logs
        assert shown[0][0] > resumed_at
        assert shown[-1] == [40, ANSWER]
        uuid = page.evaluate("JSON.parse(sessionStorage.getItem('answer')).uuid")
        assert page.evaluate("uuid => readAll(uuid, 5)", uuid) == ANSWER[len("t0 t1 t2 t3 t4 ") :]
        assert page.evaluate("uuid => readAll(uuid, 0)", uuid) == ANSWER
        assert errors == []
    finally:
        context.close()


# Registered in tests/test_readme.py, which checks that every README block is checked.
SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "stream-js": [test_stream_js_snippet_reads_on_after_a_reload],
}
