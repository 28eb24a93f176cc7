"""Every code block of README.md and of the docs (docs/), checked: the Python snippets run,
the page and JS snippets run in Chromium against daphne and a Celery worker, the shell
commands name real targets and programs, and the JSON examples and reference tables match
what the code does.

The snippets are read from the Markdown files at test time (``tests/readme_snippets.py``).
The live tests need the tutorial's ``Wait`` task registered in the test project:
``tests.project.readme_tasks.Wait`` runs the ``task`` snippet.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid as uuid_lib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import django
import pytest
from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer
from channels.routing import ProtocolTypeRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.template import Context, Template
from django.test import override_settings
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string
from playwright.sync_api import expect
from rest_framework.test import APIClient

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.functions import django_tasks_available
from task_api.models import TaskRecord, TaskStatus
from task_api.params import IntParameter, StringParameter
from task_api.store.task_json import task_json
from task_api.tasks import Task
from task_api.views.tasks import TaskCancelView, TaskCatalogView, TaskDetailView, TaskListView
from tests import (
    test_admin,
    test_docs,
    test_newproject,
    test_newproject_postgres,
    test_operations_docs,
    test_policy,
    test_postgres_only_docs,
    test_sse,
    test_streams,
    test_tracing,
)
from tests import test_batches_readme as batches_readme
from tests import test_readme_django_tasks as readme_django_tasks
from tests import test_readme_streams as readme_streams
from tests import test_readme_testing as readme_testing
from tests import test_share_howto as share_howto
from tests import test_streams_howto as streams_howto
from tests.project.asgi import application
from tests.readme_snippets import (
    REPO_ROOT,
    Block,
    blocks,
    exec_snippet,
    load_snippet_module,
    snippet,
    snippet_block,
    table,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser, BrowserContext, Page
    from pytest_django import DjangoDbBlocker

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

TASK_API = REPO_ROOT / "task_api"
STATIC_JS = TASK_API / "static" / "django-task-api.min.js"
TIMEOUT_MS = 20_000
TERMINAL = {"succeeded", "failed", "cancelled"}
TASK_GET = re.compile(r"/tasks/[0-9a-f-]{36}/$")
# Where the tutorial puts the Wait task; the live tests' processes find it in the test project.
README_TASK_MODULE = "myapp.background"
README_PACKAGES = frozenset({"myapp", "myproject"})
PROJECT_TASK_PATH = "tests.project.readme_tasks.Wait"


def _startproject_installed_apps() -> list[str]:
    """``INSTALLED_APPS`` of a project made by ``django-admin startproject``."""
    template = Path(django.__file__).parent / "conf/project_template/project_name/settings.py-tpl"
    for node in ast.parse(template.read_text()).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "INSTALLED_APPS":
            apps: list[str] = ast.literal_eval(node.value)
            return apps
    raise AssertionError(f"no INSTALLED_APPS in {template}")


def block_starting(lang: str, start: str, where: str) -> Block:
    """The one unnamed ``lang`` block of the file ``where`` whose text starts with ``start``."""
    found = [
        b
        for b in blocks(path=REPO_ROOT / where)
        if b.lang == lang and not b.name and b.text.startswith(start)
    ]
    assert len(found) == 1, f"{where}: expected one {lang} block starting {start!r}"
    return found[0]


@pytest.fixture
def fresh_modules() -> Iterator[None]:
    """The snippets' ``myapp`` and ``myproject`` modules a test runs are forgotten after it."""
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name.split(".")[0] in README_PACKAGES:
                del sys.modules[name]


@pytest.fixture
def readme_task(fresh_modules: None, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The ``task`` snippet run as ``myapp.background``, its ``sleep`` a no-op that is recorded."""
    module = load_snippet_module("task", README_TASK_MODULE)
    module.slept = []
    monkeypatch.setattr(module, "sleep", module.slept.append)
    return module


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("reader"))
    return client


# -- snippet: task --------------------------------------------------------------------------


def test_task_snippet_declares_the_wait_task(readme_task: ModuleType) -> None:
    wait = readme_task.Wait
    assert isinstance(wait, type)
    assert issubclass(wait, Task)
    assert (wait.name, wait.__module__) == ("wait", README_TASK_MODULE)
    assert wait.get_description() == "Wait a number of seconds, counting them."
    assert list(wait.inputs) == ["seconds", "label"]
    assert isinstance(wait.inputs["seconds"], IntParameter)
    assert isinstance(wait.inputs["label"], StringParameter)
    assert not any(param.required for param in wait.inputs.values())
    assert list(wait.outputs) == ["waited"]
    assert isinstance(wait.outputs["waited"], IntParameter)
    # Optional inputs take their defaults from run's signature.
    assert wait.input_schema() == {
        "type": "object",
        "properties": {
            "seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 10},
            "label": {"type": "string", "maxLength": 50, "default": "wait"},
        },
        "additionalProperties": False,
    }
    assert wait.output_schema()["required"] == ["waited"]


def test_task_snippet_runs_detached(readme_task: ModuleType) -> None:
    task = readme_task.Wait()
    assert task.run(seconds=3, label="tea") == 3
    reporter = task._reporter
    assert (reporter.progress, reporter.target) == (3, 3)
    assert [(e["value"], e["level"]) for e in reporter.entries] == [
        ("tea: one more second", "info")
    ] * 3
    assert readme_task.slept == [1, 1, 1]

    defaults = readme_task.Wait()
    assert defaults.run() == 10
    assert (defaults._reporter.progress, defaults._reporter.target) == (10, 10)
    assert defaults._reporter.entries[-1]["value"] == "wait: one more second"


@pytest.mark.django_db(transaction=True)
def test_task_snippet_runs_through_the_rest_api(readme_task: ModuleType, api: APIClient) -> None:
    with override_settings(TASK_API_BACKGROUND_TASKS=[readme_task.Wait]):
        response = api.post("/tasks/", {"task": "wait", "inputs": {"seconds": 4}}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert api.get(f"/tasks/{body['uuid']}/").json() == body
    assert (body["task"], body["status"], body["error"]) == ("wait", "succeeded", None)
    assert body["outputs"] == {"waited": 4}
    assert (body["progress"], body["target"]) == (4, 4)
    assert body["messages"] == ["wait: one more second"] * 4
    assert readme_task.slept == [1] * 4


# -- snippet: settings ----------------------------------------------------------------------


def _settings_snippet() -> dict[str, Any]:
    return exec_snippet("settings", {"INSTALLED_APPS": _startproject_installed_apps()})


def test_settings_snippet_configures_the_app(readme_task: ModuleType) -> None:
    names = _settings_snippet()
    apps = names["INSTALLED_APPS"]
    assert {"daphne", "rest_framework", "channels", "task_api"} <= set(apps)
    assert len(apps) == len(set(apps)), apps
    for app in apps:
        __import__(app)
    # The setting names the snippet "task" defines, where the tutorial puts it.
    (entry,) = names["TASK_API_BACKGROUND_TASKS"]
    assert import_string(entry) is readme_task.Wait
    assert names["ASGI_APPLICATION"] == "myproject.asgi.application"
    assert '"myproject.settings"' in snippet("asgi")
    layer = names["CHANNEL_LAYERS"]["default"]
    assert issubclass(import_string(layer["BACKEND"]), BaseChannelLayer)
    hosts = [
        host if isinstance(host, str) else host["address"] for host in layer["CONFIG"]["hosts"]
    ]
    assert all(host.startswith("redis://") for host in hosts)
    # Above channels-redis's 5 s blocking receive, or idle consumers time out.
    assert all(host["socket_timeout"] > 5 for host in layer["CONFIG"]["hosts"])
    assert names["CELERY_BROKER_URL"].startswith("redis://")


def test_pubsub_layer_snippet_is_the_tested_configuration() -> None:
    """The docs' pub/sub layer is the one ``TASK_API_TEST_LAYER=pubsub`` runs the
    WebSocket tests on, on the settings snippet's Redis, and no check warns of it."""
    from task_api.checks import check_channel_layer
    from tests.project.settings import redis_channel_layer

    layer = exec_snippet("pubsub-layer", {})["CHANNEL_LAYERS"]["default"]
    (host,) = _settings_snippet()["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"]
    assert layer == redis_channel_layer(host["address"], "pubsub")
    import_string(layer["BACKEND"])
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        assert check_channel_layer() == []


def test_settings_snippet_puts_daphne_before_staticfiles() -> None:
    """The tutorial says daphne goes before staticfiles, so that runserver serves ASGI."""
    apps = _settings_snippet()["INSTALLED_APPS"]
    assert apps.index("daphne") < apps.index("django.contrib.staticfiles"), (
        f"after the settings snippet, on a new project's INSTALLED_APPS: {apps}"
    )


def test_sqlite_snippet_gives_the_options_the_check_asks_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, django_db_blocker: DjangoDbBlocker
) -> None:
    """On a new project's SQLite database the snippet silences ``task_api.W002``, and this
    Django's connection takes its options: WAL, a 30 s busy timeout, IMMEDIATE transactions."""
    from django.db import connections
    from django.db.utils import ConnectionHandler

    from task_api.checks import SQLITE_OPTIONS, check_sqlite

    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    options = exec_snippet("settings-sqlite", {"DATABASES": {"default": database}})["DATABASES"]
    assert options["default"]["OPTIONS"] == SQLITE_OPTIONS
    monkeypatch.setattr(connections["default"], "vendor", "sqlite")
    monkeypatch.setitem(connections["default"].settings_dict, "OPTIONS", SQLITE_OPTIONS)
    assert check_sqlite() == []
    connection = ConnectionHandler(options)["default"]
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone() == ("wal",)
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone() == (30_000,)
        assert connection.transaction_mode == "IMMEDIATE"
    finally:
        connection.close()


# -- snippet: urls --------------------------------------------------------------------------


def test_urls_snippet_serves_the_api_and_no_root(fresh_modules: None) -> None:
    page_views = load_snippet_module("view", "myapp.views")
    urls = load_snippet_module("urls", "myproject.urls")
    assert resolve("/wait/", urlconf=urls).func is page_views.wait_page
    uuid = uuid_lib.uuid4()
    views = {
        "/tasks/": TaskListView,
        "/tasks/catalog/": TaskCatalogView,
        f"/tasks/{uuid}/": TaskDetailView,
        f"/tasks/{uuid}/cancel/": TaskCancelView,
    }
    for path, view in views.items():
        match = resolve(path, urlconf=urls)
        assert match.namespace == "task_api", path
        assert match.func.view_class is view, path  # type: ignore[attr-defined]
    assert resolve(f"/tasks/{uuid}/", urlconf=urls).kwargs == {"uuid": uuid}
    with pytest.raises(Resolver404):
        resolve("/", urlconf=urls)


def test_rest_table_requests_resolve_to_views_that_take_them(fresh_modules: None) -> None:
    load_snippet_module("view", "myapp.views")
    urls = load_snippet_module("urls", "myproject.urls")
    rows = table("request", "answer", page="docs/reference/rest.md")
    assert len(rows) >= 6
    for request, _answer in rows:
        found = re.match(r"`(GET|POST) (/[^`?\s]*)", request)
        assert found, request
        method, path = found.group(1), found.group(2).replace("<uuid>", str(uuid_lib.uuid4()))
        view = resolve(path, urlconf=urls).func.view_class  # type: ignore[attr-defined]
        assert hasattr(view, method.lower()), f"{request}: {view.__name__} has no {method}"


# -- snippets: asgi and celery --------------------------------------------------------------


def _code_lines(source: str) -> list[str]:
    """The code lines of ``source``: no module docstring, blank lines or future imports."""
    tree = ast.parse(source)
    start = 0
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        start = first.end_lineno or 0
    return [
        line
        for line in source.splitlines()[start:]
        if line.strip() and line.strip() != "from __future__ import annotations"
    ]


@pytest.mark.parametrize("name", ["asgi", "celery"])
def test_project_file_is_the_snippet(name: str) -> None:
    expected = snippet(name).replace("myproject", "tests.project")
    project_file = REPO_ROOT / "tests" / "project" / f"{name}.py"
    assert _code_lines(project_file.read_text()) == _code_lines(expected)


def test_project_imports_its_celery_app_as_the_tutorial_says() -> None:
    line = "from .celery import app as celery_app"
    assert snippet("celery-init") == line + "\n"
    assert line in (REPO_ROOT / "tests" / "project" / "__init__.py").read_text().splitlines()


# -- snippets: page and js, in Chromium -----------------------------------------------------


def _alice_context(
    browser: Browser,
    daphne: DaphneServer,
    cookie: SessionCookie,
    html: str,
) -> BrowserContext:
    """alice's browser context; ``/readme-page/`` on daphne serves ``html``, static JS too."""
    context = browser.new_context(base_url=daphne.url)
    context.set_default_timeout(TIMEOUT_MS)
    # A page served by daphne itself is on the loopback address, as the API and the
    # socket are; Chromium cannot tell that of a routed page and asks for permission.
    context.grant_permissions(["local-network-access"], origin=daphne.url)
    context.add_cookies(
        [{"name": k, "value": v, "url": daphne.url} for k, v in cookie.cookies.items()]
    )
    context.route(
        f"{daphne.url}/readme-page/",
        lambda route: route.fulfill(content_type="text/html; charset=utf-8", body=html),
    )
    context.route(
        "**/static/django-task-api.min.js",
        lambda route: route.fulfill(path=STATIC_JS, content_type="text/javascript"),
    )
    return context


def _alice_tasks(context: BrowserContext) -> list[dict[str, Any]]:
    response = context.request.get("/tasks/?task=wait")
    assert response.status == 200, response.text()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _wait_until_all_ended(page: Page, context: BrowserContext, count: int) -> list[dict[str, Any]]:
    """alice's ``count`` wait tasks, once every one of them has ended."""
    tasks: list[dict[str, Any]] = []
    for _ in range(TIMEOUT_MS // 100):
        tasks = _alice_tasks(context)
        if len(tasks) == count and all(t["status"] in TERMINAL for t in tasks):
            return tasks
        page.wait_for_timeout(100)
    raise AssertionError(f"alice's tasks did not all end: {tasks}")


def test_project_task_is_the_tutorial_snippet() -> None:
    """The live processes run ``Wait`` as the test project imports it: the tutorial's code."""
    wait = import_string(PROJECT_TASK_PATH)
    assert issubclass(wait, Task)
    assert wait.name == "wait"
    assert wait.run.__code__.co_filename == str(snippet_block("task").path)


@pytest.fixture(scope="session")
def wait_registered() -> None:
    """The live processes use the test project's settings: they must register ``Wait``."""
    if PROJECT_TASK_PATH not in django_settings.TASK_API_BACKGROUND_TASKS:
        pytest.fail(
            f"add {PROJECT_TASK_PATH!r} to TASK_API_BACKGROUND_TASKS in tests/project/settings.py",
            pytrace=False,
        )


@pytest.fixture
def alice_cookie(users: Users, session_cookie: Callable[[User], SessionCookie]) -> SessionCookie:
    return session_cookie(users.alice)


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_page_snippet_shows_the_result(
    wait_registered: None,
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    alice_cookie: SessionCookie,
) -> None:
    html = Template(snippet("page")).render(Context())
    assert '<script src="/static/django-task-api.min.js"\n' in html
    context = _alice_context(browser, daphne_server, alice_cookie, html)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if TASK_GET.search(r.url) else None)
        with page.expect_websocket() as socket_info:
            page.goto("/readme-page/")
        frames: list[dict[str, Any]] = []
        socket_info.value.on("framereceived", lambda payload: frames.append(json.loads(payload)))
        expect(page.locator("#result")).to_have_text("Waited 3 s", timeout=TIMEOUT_MS)
        assert page.eval_on_selector("#bar", "bar => [bar.value, bar.max]") == [3, 3]
        assert socket_info.value.url == f"{daphne_server.ws_url}/ws/tasks/"
        # The progress and the end came over the socket, not by polling.
        assert [f["set"]["progress"] for f in frames if "progress" in f.get("set", {})], frames
        assert frames[-1]["type"] == "snapshot", frames
        assert polls == []
        (task,) = _alice_tasks(context)
        assert (task["status"], task["outputs"], task["progress"]) == (
            "succeeded",
            {"waited": 3},
            3,
        )
        assert errors == []
    finally:
        context.close()


# Records what the page logs, as JSON, before any page script runs.
_LOG_RECORDER = """
window.readmeLogs = []
const log = console.log.bind(console)
console.log = (...args) => {
  window.readmeLogs.push(JSON.parse(JSON.stringify(args)))
  log(...args)
}
"""


def _load_until_settled(page: Page, load: Callable[[], Any]) -> list[list[Any]]:
    """Load the page, wait until its task socket closes (every task settled): its logs."""
    with page.expect_websocket() as socket_info:
        load()
    socket = socket_info.value
    if not socket.is_closed():
        socket.wait_for_event("close", timeout=3 * TIMEOUT_MS)
    logs: list[list[Any]] = page.evaluate("readmeLogs")
    return logs


def _logged_states(logs: list[list[Any]], uuid: str) -> list[dict[str, Any]]:
    """The task JSONs of ``uuid`` that were logged on their own."""
    return [
        args[0]
        for args in logs
        if len(args) == 1 and isinstance(args[0], dict) and args[0].get("uuid") == uuid
    ]


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_js_snippet_runs_watches_and_cancels(
    wait_registered: None,
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    alice_cookie: SessionCookie,
) -> None:
    html = (
        '<script src="/static/django-task-api.min.js"></script>\n'
        f"<script>\n{snippet('js')}</script>\n"
    )
    context = _alice_context(browser, daphne_server, alice_cookie, html)
    try:
        page = context.new_page()
        page.add_init_script(_LOG_RECORDER)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        logs = _load_until_settled(page, lambda: page.goto("/readme-page/"))
        cancelled = page.evaluate("localStorage.getItem('task')")
        tasks = {t["uuid"]: t for t in _wait_until_all_ended(page, context, 3)}
        # The 30-second run, aborted at once, ends cancelled; its progress was logged.
        assert tasks[cancelled]["status"] == "cancelled", tasks[cancelled]
        assert tasks[cancelled]["cancel_requested"] is True
        assert _logged_states(logs, cancelled)[-1] == tasks[cancelled], "last state seen != REST"
        # The two 3-second runs succeed: one logs its output, the other its progress.
        finished = [t for uuid, t in tasks.items() if uuid != cancelled]
        assert [(t["status"], t["outputs"]) for t in finished] == [("succeeded", {"waited": 3})] * 2
        numbers = [
            args[0] for args in logs if len(args) == 1 and type(args[0]) in (int, type(None))
        ]
        assert set(numbers) <= {None, 0, 1, 2, 3}, logs
        assert {1, 2, 3} <= set(numbers), logs
        assert numbers.count(3) >= 2, logs
        assert [args for args in logs if len(args) == 2] == [], "the errback was called"

        # After a reload, watch() re-attaches to the task saved in localStorage.
        first_errors = list(errors)
        logs = _load_until_settled(page, page.reload)
        assert _logged_states(logs, cancelled) == [tasks[cancelled]], logs
        _wait_until_all_ended(page, context, 6)
        assert first_errors == [], "promises the snippet leaves rejected without a handler"
        assert errors == first_errors, "after a reload, promises left rejected without a handler"
    finally:
        context.close()


# -- shell blocks ---------------------------------------------------------------------------


def _make_dry_run(*args: str) -> list[str]:
    # Under `make test` the environment says "nested make": keep its output plain.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_make_demo_and_make_test_run_their_scripts() -> None:
    block = block_starting("sh", "make demo", "README.md")
    targets = [line.split("#")[0].split()[1] for line in block.text.splitlines()]
    assert targets == ["demo", "test"]
    for target in targets:
        (command,) = _make_dry_run(target)
        script = REPO_ROOT / command.split()[0]
        assert command.split()[0] == f"scripts/{target}"
        assert script.is_file()
        assert os.access(script, os.X_OK), f"{script} is not executable"
    assert _make_dry_run("test", "ARGS=-k consumer") == ["scripts/test -k consumer"]


def test_demo_on_celery_commands() -> None:
    block = block_starting("sh", "REDIS_URL=", "docs/how-to/deployment.md")
    demo, worker = block.text.splitlines()
    assert demo.startswith("REDIS_URL=redis://")
    assert demo.endswith(" make demo")
    assert "REDIS_URL" in (REPO_ROOT / "scripts" / "demo").read_text()
    argv = worker.split()
    assert argv[0].startswith("REDIS_URL=redis://")
    assert argv[1:] == [".venv-demo/bin/celery", "-A", "demo", "worker", "-l", "info"]
    assert "VENV=${DEMO_VENV:-.venv-demo}" in (REPO_ROOT / "scripts" / "demo").read_text()
    assert _celery_app_main("demo") == "demo"


def test_pip_install_names_the_package_and_its_extras() -> None:
    (line,) = [line for line in snippet("startproject").splitlines() if line.startswith("pip ")]
    found = re.fullmatch(r'pip install "([\w-]+)\[([\w,]+)\]"', line)
    assert found, line
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert found.group(1) == project["name"]
    extras = found.group(2).split(",")
    assert extras == ["redis", "daphne"]
    assert set(extras) <= set(project["optional-dependencies"])
    assert any(d.startswith("channels-redis") for d in project["optional-dependencies"]["redis"])
    assert any(d.startswith("daphne") for d in project["optional-dependencies"]["daphne"])


def _celery_app_main(app: str) -> str:
    """The name of the Celery app that ``celery -A app`` finds, found in a process of its own."""
    code = "import sys; from celery.app.utils import find_app; print(find_app(sys.argv[1]).main)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, app],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_server_and_worker_commands_exist_and_find_the_project() -> None:
    block = block_starting("sh", "daphne ", "docs/tutorial.md")
    daphne, celery = (line.split() for line in block.text.splitlines())
    bin_dir = Path(sys.executable).parent
    for argv in (daphne, celery):
        assert os.access(bin_dir / argv[0], os.X_OK), f"no {argv[0]} in {bin_dir}"
    assert daphne[1:] == ["myproject.asgi:application"]
    app = import_string(daphne[1].replace("myproject", "tests.project").replace(":", "."))
    assert isinstance(app, ProtocolTypeRouter)
    assert celery[1:] == ["-A", "myproject", "worker", "-l", "info"]
    assert _celery_app_main("tests.project") == "tests.project"


# -- JSON blocks ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_json_example_has_the_fields_of_task_json(readme_task: ModuleType) -> None:
    example = json.loads(block_starting("json", "{\n", "docs/reference/rest.md").text)
    record = TaskRecord.objects.create(name="wait", status=TaskStatus.RUNNING)
    assert list(example) == list(task_json(record))
    assert example["status"] in TaskStatus.values
    assert example["messages"] == [entry["value"] for entry in example["message_log"]]
    # What the tutorial's Wait task says with its default label.
    task = readme_task.Wait()
    task.run(seconds=1)
    assert example["messages"][0] == task._reporter.entries[0]["value"]


@pytest.mark.django_db(transaction=True)
def test_bad_request_example_is_what_the_api_answers(
    readme_task: ModuleType, api: APIClient
) -> None:
    example = json.loads(block_starting("json", '{"inputs"', "docs/reference/rest.md").text)
    with override_settings(TASK_API_BACKGROUND_TASKS=[readme_task.Wait]):
        response = api.post(
            "/tasks/",
            {"task": "wait", "inputs": {"seconds": "ten", "colour": "red"}},
            format="json",
        )
    assert response.status_code == 400
    assert response.json() == example
    assert not TaskRecord.objects.exists()


# -- the layout block -----------------------------------------------------------------------


def test_layout_names_existing_paths() -> None:
    """Top-level names are in the repository; indented ones in task_api/ (or its backends/)."""
    block = block_starting("", "task_api/", "docs/explanations/architecture.md")
    for line in block.text.splitlines():
        names = re.findall(r"[\w.]+(?:/[\w.]+)*(?:/|\.py|\.md)(?![\w/])", line)
        assert names, line
        for name in names:
            if line.startswith(" "):
                places = [TASK_API / name, TASK_API / "backends" / name]
            else:
                places = [REPO_ROOT / name]
            assert any(p.exists() for p in places), f"the layout names {name}: {line.strip()!r}"


# -- reference tables -----------------------------------------------------------------------


def test_options_snippet_configures_the_engine(settings: Any) -> None:
    """``OPTIONS`` of TaskAPIBackend are read where no ``TASK_API_*`` setting is given."""
    for name in ("TASK_API_BACKEND", "TASK_API_MAX_RUNNING_PER_USER"):
        if hasattr(django_settings, name):
            delattr(settings, name)
    settings.TASKS = exec_snippet("django-options", {})["TASKS"]
    assert task_api_settings.backend == "task_api.backends.inprocess.InProcessBackend"
    assert task_api_settings.max_running_per_user == 5
    settings.TASK_API_MAX_RUNNING_PER_USER = 7  # the TASK_API_* setting wins
    assert task_api_settings.max_running_per_user == 7
    if django_tasks_available():
        from django.core.checks import run_checks

        assert [e.id for e in run_checks(databases=[]) if e.id == "task_api.E007"] == []


def _table_frames(uuid: str) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    """The WebSocket table's frames by direction and type, "6f1c…" made ``uuid``; and meaning."""
    frames = {}
    for direction, cell, meaning in table("direction", "frame", "meaning"):
        text = cell.strip("`").replace("6f1c…", uuid).replace("{…task JSON…}", "{}")
        frame = json.loads(text.replace("…", ""))
        frames[direction, frame["type"]] = (frame, meaning)
    return frames


async def _receive(communicator: WebsocketCommunicator) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await communicator.receive_from(timeout=5))
    return frame


@pytest.mark.django_db(transaction=True)
async def test_websocket_table_frames_are_what_the_consumer_speaks(
    users: Users, session_cookie: Callable[[User], SessionCookie]
) -> None:
    record = await sync_to_async(TaskRecord.objects.create)(
        name="wait", owner=users.alice, status=TaskStatus.RUNNING, progress=3, target=10, seq=5
    )
    uuid = str(record.uuid)
    frames = _table_frames(uuid)
    assert sorted(frames) == [
        ("client", "ping"),
        ("client", "start"),
        ("client", "subscribe"),
        ("client", "unsubscribe"),
        ("server", "error"),
        ("server", "snapshot"),
        ("server", "started"),
        ("server", "update"),
    ]
    cookie = await sync_to_async(session_cookie)(users.alice)
    headers = [(b"origin", b"http://testserver"), (b"cookie", cookie.header.encode())]
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        snapshot_row, _ = frames["server", "snapshot"]
        subscribe, meaning = frames["client", "subscribe"]
        assert "answered by a `snapshot`" in meaning
        for _again in range(2):  # sent again, it asks for a fresh snapshot
            await communicator.send_json_to(subscribe)
            snapshot = await _receive(communicator)
            assert snapshot["type"] == "snapshot"
            assert list(snapshot) == list(snapshot_row)
            assert snapshot["task"] == task_json(record)
            assert (snapshot["uuid"], snapshot["seq"]) == (uuid, 5)

        ping, meaning = frames["client", "ping"]
        await communicator.send_json_to(ping)
        answer = re.search(r"answered by `(\{.*?\})`", meaning)
        assert answer, meaning
        assert await _receive(communicator) == json.loads(answer.group(1))

        unsubscribe, _ = frames["client", "unsubscribe"]
        await communicator.send_json_to(unsubscribe)
        assert await communicator.receive_nothing(timeout=0.3)

        error_row, meaning = frames["server", "error"]
        await communicator.send_json_to({**subscribe, "uuid": str(uuid_lib.uuid4())})
        refused = await _receive(communicator)
        assert refused == {
            **error_row,
            "uuid": refused["uuid"],
            "detail": f"No task {refused['uuid']!r}.",
        }

        start, start_meaning = frames["client", "start"]
        assert "answered by `started`" in start_meaning
        await communicator.send_json_to(start)
        started = await _receive(communicator)
        started_row, _ = frames["server", "started"]
        assert list(started) == list(started_row)
        assert (started["ref"], started["created"]) == (start["ref"], True)
        assert started["task"]["task"] == start["task"]
        await communicator.send_json_to({**start, "inputs": {}})
        refused = await _receive(communicator)
        assert refused["ref"] == start["ref"]
        assert (refused["code"], refused["status"]) == ("invalid", 400)
        assert list(refused["errors"]) == ["inputs"]
    finally:
        await communicator.disconnect()
    live = [TASK_API / "protocol.py", *sorted((TASK_API / "consumers").glob("*.py"))]
    consumer = "".join(path.read_text() for path in live)
    for code in re.findall(r"`(\w+)`", meaning.split(":", 1)[1]):
        assert f'"{code}"' in consumer, f"the consumer never sends the error code {code}"
    starts = consumer + (TASK_API / "api" / "errors.py").read_text()
    for code in re.findall(r"`(\w+)`", start_meaning.split("codes", 1)[1]):
        assert f'"{code}"' in starts, f"a start is never refused with the code {code}"

    update, _ = frames["server", "update"]
    assert protocol.update_frame(uuid, update["seq"], update["set"], update["append"]) == update
    assert set(update["set"]) <= set(task_json(record))
    for entry in update["append"]:
        assert list(entry) == ["value", "level", "time"]


# -- every block is checked -----------------------------------------------------------------

NEW_PROJECT = test_newproject.test_tutorial_on_celery_and_redis
FUNCTION_AND_BATCH = test_newproject.test_tutorial_function_and_batch
SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "traces-settings": [test_tracing.test_the_documented_setup_prints_the_spans_of_a_run],
    "task": [
        test_task_snippet_declares_the_wait_task,
        test_task_snippet_runs_detached,
        test_task_snippet_runs_through_the_rest_api,
    ],
    "settings": [
        test_settings_snippet_configures_the_app,
        test_settings_snippet_puts_daphne_before_staticfiles,
    ],
    "settings-sqlite": [test_sqlite_snippet_gives_the_options_the_check_asks_for, NEW_PROJECT],
    "pubsub-layer": [
        test_pubsub_layer_snippet_is_the_tested_configuration,
        test_newproject.test_tutorial_on_the_pubsub_layer,
    ],
    "urls": [
        test_urls_snippet_serves_the_api_and_no_root,
        test_rest_table_requests_resolve_to_views_that_take_them,
    ],
    "asgi": [test_project_file_is_the_snippet],
    "celery-init": [test_project_imports_its_celery_app_as_the_tutorial_says],
    "celery": [
        test_project_file_is_the_snippet,
        test_project_imports_its_celery_app_as_the_tutorial_says,
    ],
    "page": [test_page_snippet_shows_the_result, test_project_task_is_the_tutorial_snippet],
    # Applied to a new project made by startproject, in tests/test_newproject.py:
    "startproject": [test_pip_install_names_the_package_and_its_extras, NEW_PROJECT],
    "settings-login": [test_docs.test_login_settings_send_visitors_to_the_admin, NEW_PROJECT],
    "migrate": [NEW_PROJECT],
    "view": [test_docs.test_tutorial_urls_route_every_page, NEW_PROJECT],
    "settings-inprocess": [test_newproject.test_tutorial_without_redis],
    "settings-tasks": [test_docs.test_tutorial_tasks_setting_is_the_backend, FUNCTION_AND_BATCH],
    "urls-countdown": [test_docs.test_tutorial_urls_route_every_page, FUNCTION_AND_BATCH],
    "urls-batch": [test_docs.test_tutorial_urls_route_every_page, FUNCTION_AND_BATCH],
    "batch-page": [FUNCTION_AND_BATCH],
    "quickstart-setup": [test_newproject.test_quickstart_runs_as_written],
    "quickstart-task": [
        test_docs.test_quickstart_task_adds,
        test_newproject.test_quickstart_runs_as_written,
    ],
    "quickstart-settings": [test_newproject.test_quickstart_runs_as_written],
    "quickstart-urls": [test_newproject.test_quickstart_runs_as_written],
    "quickstart-run": [test_newproject.test_quickstart_runs_as_written],
    "quickstart-curl": [test_newproject.test_quickstart_runs_as_written],
    "js": [test_js_snippet_runs_watches_and_cancels],
    "access-policy": [test_policy.test_readme_policy_snippet_widens_access_to_a_group],
    "admin-operators": [test_admin.test_operators_snippet_gives_the_actions],
    "sse-js": [test_sse.test_readme_sse_snippet_in_chromium],
    **batches_readme.SNIPPET_CHECKS,
    **readme_streams.SNIPPET_CHECKS,
    **streams_howto.SNIPPET_CHECKS,
    **share_howto.SNIPPET_CHECKS,
    **readme_testing.SNIPPET_CHECKS,
    "django-settings": [readme_django_tasks.test_settings_snippet_configures_the_backend],
    "django-options": [test_options_snippet_configures_the_engine],
    "django-task": [
        readme_django_tasks.test_task_snippet_runs_plainly_immediately_and_on_the_engine,
        FUNCTION_AND_BATCH,
    ],
    "django-view": [
        readme_django_tasks.test_view_snippet_enqueues_for_the_user,
        FUNCTION_AND_BATCH,
    ],
    "django-page": [
        readme_django_tasks.test_project_template_is_the_page_snippet,
        readme_django_tasks.test_page_and_js_snippets_in_chromium,
        FUNCTION_AND_BATCH,
    ],
    "django-js": [readme_django_tasks.test_page_and_js_snippets_in_chromium],
    **test_operations_docs.SNIPPET_CHECKS,
    "postgres-only-database": [
        test_newproject_postgres.test_the_page_on_a_new_project_runs_a_task_live_without_redis
    ],
    "postgres-only-settings": [
        test_newproject_postgres.test_the_page_on_a_new_project_runs_a_task_live_without_redis,
        test_postgres_only_docs.test_settings_snippet_is_the_tested_configuration,
    ],
}


def test_uvicorn_command_parses_with_lean_flags() -> None:
    """The recommended server's command: every option is uvicorn's, with the flags the
    deployment page explains."""
    from uvicorn.main import main as uvicorn_main

    argv = block_starting("sh", "uvicorn ", "docs/how-to/deployment.md").text.split()
    assert argv[0] == "uvicorn"
    params = uvicorn_main.make_context("uvicorn", argv[1:]).params
    assert params["app"] == "myproject.asgi:application"
    assert params["ws_per_message_deflate"] is False
    assert params["lifespan"] == "off"
    assert params["timeout_graceful_shutdown"] == 5


# The other blocks, by file, language and how their text starts.
BLOCK_CHECKS: dict[tuple[str, str, str], Callable[..., Any]] = {
    ("README.md", "sh", "make demo"): test_make_demo_and_make_test_run_their_scripts,
    ("docs/how-to/postgres-only.md", "sh", "python manage.py procrastinate"): (
        test_postgres_only_docs.test_worker_command_is_a_management_command
    ),
    ("docs/how-to/postgres-only.md", "sh", "docker compose"): (
        test_postgres_only_docs.test_compose_profile_runs_web_and_worker_without_redis
    ),
    ("docs/how-to/deployment.md", "sh", "REDIS_URL="): test_demo_on_celery_commands,
    ("docs/how-to/deployment.md", "sh", "uvicorn "): test_uvicorn_command_parses_with_lean_flags,
    (
        "docs/tutorial.md",
        "sh",
        "daphne ",
    ): test_server_and_worker_commands_exist_and_find_the_project,
    ("docs/reference/rest.md", "json", "{\n"): test_task_json_example_has_the_fields_of_task_json,
    (
        "docs/reference/rest.md",
        "json",
        '{"inputs"',
    ): test_bad_request_example_is_what_the_api_answers,
    ("docs/explanations/architecture.md", "", "task_api/"): test_layout_names_existing_paths,
    ("docs/explanations/architecture.md", "mermaid", "flowchart"): (
        test_docs.test_data_path_diagram_names_real_routes
    ),
    ("docs/how-to/task-classes.md", "", "TaskAPIException"): (
        readme_django_tasks.test_exception_tree_is_the_code
    ),
    ("docs/contributing.md", "sh", "make docs"): test_docs.test_docs_commands_exist,
    ("docs/protocol.md", "text", "retry: 1000"): test_sse.test_protocol_example_is_an_event_stream,
    ("docs/protocol.md", "json", "{\n"): test_docs.test_protocol_task_json_has_the_fields,
    ("docs/protocol.md", "json", '{"inputs"'): test_docs.test_protocol_bad_requests_are_answers,
    ("docs/protocol.md", "json", '{"type": "start"'): test_docs.test_protocol_start_frames,
    (
        "docs/protocol.md",
        "json",
        test_streams.STREAM_EXAMPLE,
    ): test_streams.test_the_documented_stream_answer_is_what_rest_answers,
    **test_operations_docs.BLOCK_CHECKS,
}


def test_every_code_block_is_checked() -> None:
    unchecked = []
    used: set[tuple[str, str, str]] = set()
    found = blocks()
    for block in found:
        if block.name is not None:
            if block.name not in SNIPPET_CHECKS:
                unchecked.append(f"{block.where}:{block.line}: snippet {block.name!r}")
            continue
        keys = [
            (where, lang, start)
            for where, lang, start in BLOCK_CHECKS
            if (block.where, block.lang) == (where, lang) and block.text.startswith(start)
        ]
        if len(keys) != 1:
            kind = block.lang or "text"
            unchecked.append(f"{block.where}:{block.line}: {kind} block {block.first_line!r}")
        used.update(keys)
    assert unchecked == [], "code blocks of README.md and docs/ that no test checks"
    assert set(BLOCK_CHECKS) == used, "checks of blocks that README.md and docs/ no longer have"
    named = [block.name for block in found if block.name]
    assert len(named) == len(set(named)), f"snippet names given twice: {sorted(named)}"
    assert set(SNIPPET_CHECKS) == set(named), "checks of snippets that no file has any more"
