"""The README's "Django tasks" section, checked: its snippets run as written (on Django 5.2
with the ``django-tasks`` backport, imported as the README says),
the view and page in Chromium against daphne and a Celery worker, and its status
table and exception tree match the code.

The live processes run the README's function and view from the test project
(``tests.project.readme_functions``, ``tests.project.readme_views``), whose code
is the README's text; the page template is a copy that a test compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from django.test import RequestFactory, override_settings

import task_api
import task_api.exceptions
from task_api.functions import django_tasks_available
from task_api.models import TaskRecord
from task_api.registry import load_entry
from tests.readme_snippets import blocks, exec_snippet, load_snippet_module, snippet, table

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

needs_tasks = pytest.mark.skipif(
    not django_tasks_available(), reason="@task functions need Django 6 or django-tasks"
)
PROJECT_FUNCTION = "tests.project.readme_functions.countdown"
TEMPLATE = Path(__file__).parent / "project" / "templates" / "myapp" / "countdown.html"
TIMEOUT_MS = 20_000


@pytest.fixture
def readme_function() -> Iterator[ModuleType]:
    """The ``django-task`` snippet as ``myapp.tasks``, its ``sleep`` a no-op that is recorded."""
    module = load_snippet_module("django-task", "myapp.tasks")
    module.slept = []
    module.sleep = module.slept.append
    try:
        yield module
    finally:
        for name in list(__import__("sys").modules):
            if name.split(".")[0] == "myapp":
                del __import__("sys").modules[name]


@needs_tasks
def test_settings_snippet_configures_the_backend(readme_function: ModuleType) -> None:
    from django.utils.module_loading import import_string

    from task_api.compat import BaseTaskBackend

    names = exec_snippet("django-settings", {})
    backend = import_string(names["TASKS"]["default"]["BACKEND"])
    assert issubclass(backend, BaseTaskBackend)
    entries = names["TASK_API_BACKGROUND_TASKS"]
    assert entries[0] == "myapp.background.Wait"
    function_task = load_entry(entries[1])
    assert function_task.name == "myapp.tasks.countdown"
    assert function_task.django_task.func is readme_function.countdown.func  # type: ignore[attr-defined]


@needs_tasks
@pytest.mark.django_db(transaction=True)
def test_task_snippet_runs_plainly_immediately_and_on_the_engine(
    readme_function: ModuleType,
) -> None:
    from task_api.compat import PACKAGE, TaskResultStatus

    countdown = readme_function.countdown
    assert countdown.call(seconds=2) == 2  # a plain call: progress does nothing
    ours = {"BACKEND": "task_api.backends.django_tasks.TaskAPIBackend"}
    immediate = {"BACKEND": f"{PACKAGE}.backends.immediate.ImmediateBackend"}
    with override_settings(TASKS={"default": ours, "immediate": immediate}):
        assert countdown.using(backend="immediate").enqueue(1).return_value == 1
    assert TaskRecord.objects.count() == 0
    result = countdown.enqueue(seconds=2, label="go")
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    record = TaskRecord.objects.get(uuid=result.id)
    assert (record.progress, record.target, record.outputs) == (2, 2, {"return_value": 2})
    assert [m["value"] for m in record.messages] == ["go: 1 to go", "go: 0 to go"]
    assert readme_function.slept == [1] * 5


@needs_tasks
@pytest.mark.django_db(transaction=True)
def test_view_snippet_enqueues_for_the_user(
    readme_function: ModuleType, django_user_model: Any
) -> None:
    views = load_snippet_module("django-view", "myapp.views")
    user = django_user_model.objects.create_user("viewer")
    request = RequestFactory().get("/countdown/")
    request.user = user
    request.session = None  # type: ignore[attr-defined]
    response = views.start_countdown(request)
    assert response.status_code == 200
    record = TaskRecord.objects.get()
    assert record.owner == user
    assert record.name == "myapp.tasks.countdown"
    assert f"TaskAPI.watch('{record.uuid}'" in response.content.decode()


def test_project_template_is_the_page_snippet() -> None:
    assert TEMPLATE.read_text() == snippet("django-page")


def test_status_table_is_the_backends_mapping() -> None:
    rows = table("task status", "`TaskResult.status`", "`errors`")
    written = {status.strip("`"): result.strip("`") for status, result, _ in rows}
    assert written == {
        "pending": "READY",
        "running": "RUNNING",
        "succeeded": "SUCCESSFUL",
        "failed": "FAILED",
        "cancelled": "FAILED",
    }
    if django_tasks_available():
        from task_api.backends import django_tasks

        assert {str(k): str(v) for k, v in django_tasks._STATUSES.items()} == written
    assert "`task_api.exceptions.Cancelled`" in rows[-1][2]


def test_exception_tree_is_the_code() -> None:
    (block,) = [b for b in blocks() if not b.lang and b.text.startswith("TaskAPIException")]
    written = set(re.findall(r"\b([A-Z]\w+)\b", block.text)) - {"BaseException", "Exception"}
    written.discard("ImproperlyConfigured")
    classes = {
        name
        for name, value in vars(task_api.exceptions).items()
        if isinstance(value, type) and value.__module__ == "task_api.exceptions"
    }
    assert written == classes
    for name in written:
        assert name in task_api.__all__
    for stop in ("Cancelled", "TaskTimeout"):
        assert not issubclass(getattr(task_api, stop), Exception)


@needs_tasks
@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_page_and_js_snippets_in_chromium(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[User], SessionCookie],
) -> None:
    from django.conf import settings

    assert PROJECT_FUNCTION in settings.TASK_API_BACKGROUND_TASKS
    context = browser.new_context(base_url=daphne_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    cookies = session_cookie(users.alice).cookies
    context.add_cookies(
        [{"name": k, "value": v, "url": daphne_server.url} for k, v in cookies.items()]
    )
    context.grant_permissions(["local-network-access"], origin=daphne_server.url)
    js = snippet("django-js").replace("myapp.tasks.countdown", PROJECT_FUNCTION)
    html = f'<script src="/static/django-task-api.min.js"></script>\n<script>\n{js}</script>\n'
    context.route(
        f"{daphne_server.url}/readme-js/",
        lambda route: route.fulfill(content_type="text/html; charset=utf-8", body=html),
    )
    try:
        from playwright.sync_api import expect

        page = context.new_page()
        # The view enqueues the function for alice; the page watches it.
        page.goto("/readme/countdown/")
        expect(page.locator("#status")).to_have_text("Done: 3", timeout=TIMEOUT_MS)
        assert page.eval_on_selector("#bar", "bar => [bar.value, bar.max]") == [3, 3]
        record = TaskRecord.objects.get(name=PROJECT_FUNCTION)
        assert record.owner == users.alice
        # The JS client starts the listed function by name.
        logs: list[str] = []
        js_page = context.new_page()
        js_page.on("console", lambda message: logs.append(message.text))
        js_page.goto("/readme-js/")
        expect(js_page.locator("body")).to_be_attached()
        deadline = TIMEOUT_MS // 100
        for _ in range(deadline):
            if "counted 3" in logs:
                break
            js_page.wait_for_timeout(100)
        assert "counted 3" in logs, logs
        progress = [line for line in logs if line.endswith(" 3") and line != "counted 3"]
        assert progress, logs
    finally:
        context.close()
