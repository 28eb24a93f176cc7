"""The README's "Batches" section, checked: its snippets run, its tables and its JSON
example are what the code does. ``tests/test_readme.py`` lists these checks among
those of every README block."""

from __future__ import annotations

import json
import sys
import uuid as uuid_lib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from django.urls import resolve

from task_api import protocol
from task_api.batches import batch_json, start_batch
from task_api.models import TaskBatch, TaskRecord
from tests.project.asgi import application
from tests.readme_snippets import load_snippet_module, snippet, table

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

TIMEOUT_MS = 20_000


@pytest.fixture
def readme_task(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The README's ``task`` snippet as ``myapp.background``, its ``sleep`` recorded."""
    try:
        module = load_snippet_module("task", "myapp.background")
        module.slept = []
        monkeypatch.setattr(module, "sleep", module.slept.append)
        yield module
    finally:
        for name in list(sys.modules):
            if name.split(".")[0] in ("myapp", "myproject"):
                del sys.modules[name]


@pytest.fixture
def alice_cookie(users: Users, session_cookie: Callable[[Any], SessionCookie]) -> SessionCookie:
    return session_cookie(users.alice)


@pytest.fixture
def readme_batches(readme_task: ModuleType) -> ModuleType:
    """The ``batch`` snippet as ``myapp.batches``, with the README's ``Wait`` registered."""
    return load_snippet_module("batch", "myapp.batches")


@pytest.mark.django_db(transaction=True)
def test_batch_snippet_starts_a_batch_and_children(
    readme_batches: ModuleType, readme_task: ModuleType, django_user_model: Any
) -> None:
    alice = django_user_model.objects.create_user("alice")
    with override_settings(TASK_API_BACKGROUND_TASKS=[readme_task.Wait, readme_batches.Split]):
        uuid = readme_batches.wait_for_each(alice, ["a.csv", "b.csv"])
        batch = batch_json(TaskBatch.objects.get(uuid=uuid))
        assert (batch["status"], batch["total"], batch["progress"]) == ("succeeded", 2, 4)
        records = TaskRecord.objects.filter(batch__uuid=uuid).order_by("id")
        assert [r.messages[-1]["value"] for r in records] == [
            "a.csv: one more second",
            "b.csv: one more second",
        ]
        assert {r.owner_id for r in records} == {alice.pk}
        split = start_batch([{"task": "split", "inputs": {"parts": 3}}], user=alice)
        state = batch_json(split)
    assert (state["status"], state["total"], state["target"]) == ("succeeded", 4, 3)
    assert readme_task.slept == [1] * 7


@pytest.mark.django_db
def test_batch_json_example_has_the_fields_of_batch_json(django_user_model: Any) -> None:
    example = json.loads(snippet("batch-json"))
    batch = start_batch(
        [{"task": "add", "inputs": {"a": 1}}], user=django_user_model.objects.create_user("x")
    )
    actual = batch_json(batch)
    assert list(example) == list(actual)
    assert list(example["counts"]) == list(actual["counts"])
    assert example["total"] == sum(example["counts"].values()) == len(example["tasks"])
    assert example["progress"] <= example["target"]
    for value in [example["uuid"], *example["tasks"]]:
        uuid_lib.UUID(value)


def test_batch_request_table_resolves_to_views_that_take_them(readme_task: ModuleType) -> None:
    load_snippet_module("view", "myapp.views")
    urls = load_snippet_module("urls", "myproject.urls")
    rows = table("batch request", "answer")
    assert len(rows) == 4
    for request, _answer in rows:
        method, path = request.strip("`").split("`")[0].split(" ")[:2]
        path = path.split("?")[0].replace("<uuid>", str(uuid_lib.uuid4()))
        view = resolve(path, urlconf=urls).func.view_class  # type: ignore[attr-defined]
        assert hasattr(view, method.lower()), f"{request}: {view.__name__} has no {method}"


def _table_frames(uuid: str) -> dict[tuple[str, str], dict[str, Any]]:
    frames = {}
    for direction, cell, _meaning in table("direction", "batch frame", "meaning"):
        text = cell.strip("`").replace("b7e2…", uuid).replace("{…batch JSON…}", "{}")
        frame = json.loads(text.replace("{…batch JSON without tasks…}", "{}"))
        frames[direction, frame["type"]] = frame
    return frames


@pytest.mark.django_db(transaction=True)
async def test_batch_frame_table_is_what_the_consumer_speaks(
    users: Users, session_cookie: Callable[[Any], SessionCookie]
) -> None:
    batch = await sync_to_async(start_batch)(
        [{"task": "add", "inputs": {"a": 1}}], user=users.alice
    )
    uuid = str(batch.uuid)
    frames = _table_frames(uuid)
    assert sorted(frames) == [
        ("client", "subscribe"),
        ("client", "unsubscribe"),
        ("server", "batch_snapshot"),
        ("server", "batch_update"),
        ("server", "error"),
    ]
    cookie = await sync_to_async(session_cookie)(users.alice)
    headers = [(b"origin", b"http://testserver"), (b"cookie", cookie.header.encode())]
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        for _again in range(2):
            await communicator.send_json_to(frames["client", "subscribe"])
            snapshot = json.loads(await communicator.receive_from(timeout=5))
            assert list(snapshot) == list(frames["server", "batch_snapshot"])
            assert snapshot["data"] == await sync_to_async(batch_json)(batch)
        await communicator.send_json_to(frames["client", "unsubscribe"])
        assert await communicator.receive_nothing(timeout=0.3)
        unknown = str(uuid_lib.uuid4())
        await communicator.send_json_to({"type": "subscribe", "batch": unknown})
        refused = json.loads(await communicator.receive_from(timeout=5))
        expected = frames["server", "error"]
        assert refused == {**expected, "batch": unknown, "detail": f"No batch {unknown!r}."}
    finally:
        await communicator.disconnect()
    state = {key: value for key, value in snapshot["data"].items() if key != "tasks"}
    update = protocol.batch_update_frame(state)
    assert list(update) == list(frames["server", "batch_update"])


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_batch_js_snippet_runs_all_and_settles(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    alice_cookie: SessionCookie,
) -> None:
    from tests.test_readme import _LOG_RECORDER, _alice_context

    html = (
        '<script src="/static/django-task-api.min.js"></script>\n'
        f"<script>\n{snippet('batch-js')}</script>\n"
    )
    context = _alice_context(browser, daphne_server, alice_cookie, html)
    try:
        page = context.new_page()
        page.add_init_script(_LOG_RECORDER)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/readme-page/")
        page.wait_for_function(
            "readmeLogs.filter(a => typeof a[1] == 'object' && a[1] !== null).length == 3",
            timeout=3 * TIMEOUT_MS,
        )
        logs: list[list[Any]] = page.evaluate("readmeLogs")
        uuid = page.evaluate("localStorage.getItem('batch')")
        rest = context.request.get(f"/tasks/batches/{uuid}/").json()
        assert (rest["status"], rest["total"], rest["progress"], rest["target"]) == (
            "succeeded",
            3,
            6,
            6,
        )
        results = [args for args in logs if isinstance(args[1], dict)]
        assert results == [["succeeded", {"waited": 2}, None]] * 3
        progress = [args for args in logs if not isinstance(args[1], dict)]
        assert progress[-1] == ["succeeded", 6, 6]
        assert errors == []
    finally:
        context.close()


# Registered in tests/test_readme.py, which checks that every README block is checked.
SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "batch": [test_batch_snippet_starts_a_batch_and_children],
    "batch-json": [test_batch_json_example_has_the_fields_of_batch_json],
    "batch-js": [test_batch_js_snippet_runs_all_and_settles],
}
