"""The documentation site (mkdocs.yml, docs/): its generated reference covers the code, its
navigation every page, the README's links land on pages that exist, and the code blocks of
the tutorial, the protocol and the explanations that run no project are what the code does.

``tests/test_readme.py`` lists these checks among those of every code block; the strict
build itself is ``scripts/docs --check`` (a step of ``scripts/test`` and ``make lint``).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid as uuid_lib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import django
import pytest
import yaml
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.urls import resolve, reverse
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from task_api import protocol
from task_api.conf import TaskAPISettings, task_api_settings
from task_api.models import TaskRecord, TaskStatus
from task_api.store.task_json import task_json
from task_api.testing import run
from tests.readme_snippets import (
    DOCS,
    README,
    REPO_ROOT,
    blocks,
    exec_snippet,
    load_snippet_module,
    snippet,
    sources,
)

TASK_API = REPO_ROOT / "task_api"
needs_django6 = pytest.mark.skipif(django.VERSION < (6,), reason="django.tasks is new in Django 6")


def _hook() -> ModuleType:
    """The MkDocs hook that renders the generated reference, ``docs/hooks/reference.py``."""
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(markdown: str) -> list[list[str]]:
    """The body rows of the first Markdown table of ``markdown``."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


@pytest.fixture
def fresh_modules() -> Iterator[None]:
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name.split(".")[0] in ("myapp", "myproject"):
                del sys.modules[name]


# -- the generated reference --------------------------------------------------------------------


def _settings_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for cell, default, meaning in _rows(_hook().settings_table()):
        (name,) = re.findall(r"`(TASK_API_\w+)`", cell)
        rows[name] = (default.strip("`"), meaning)
    return rows


def test_every_setting_read_is_in_the_settings_reference() -> None:
    rows = _settings_rows()
    text = "\n".join(f"{name} {meaning}" for name, (_, meaning) in rows.items())
    read = {name for setting in TaskAPISettings.all() for name in setting.names}
    for path in TASK_API.rglob("*.py"):  # a setting read around the settings object
        read |= set(re.findall(r'getattr\(settings, "(TASK_API_[A-Z_]+)"', path.read_text()))
    missing = sorted(name for name in read if name not in text)
    assert missing == [], f"settings read by task_api but not in the reference: {missing}"


def test_settings_reference_defaults_are_the_code_defaults(settings: Any) -> None:
    """Each row is one setting of the settings object, its default as the code has it."""
    for name in dir(django_settings):
        if name.startswith("TASK_API_"):
            delattr(settings, name)  # pytest-django sends no setting_changed for a delete
            setting_changed.send(sender=None, setting=name, value=None, enter=False)
    rows = _settings_rows()
    assert list(rows) == [setting.name for setting in TaskAPISettings.all()]
    for setting in TaskAPISettings.all():
        written, meaning = rows[setting.name]
        actual = getattr(task_api_settings, setting.attribute)
        assert setting.default == actual == ast.literal_eval(written)
        assert meaning.startswith(setting.doc), meaning


def test_every_system_check_id_is_in_the_checks_reference() -> None:
    sources_text = "\n".join(path.read_text() for path in TASK_API.rglob("*.py"))
    ids = set(re.findall(r"task_api\.[EW]\d{3}", sources_text))
    listed = {
        re.findall(r"`(task_api\.[EW]\d{3})`", row[0])[0] for row in _rows(_hook().checks_table())
    }
    assert ids == listed
    for row in _rows(_hook().checks_table()):
        assert row[3], f"{row[0]}: no function of task_api reports it"


def test_rest_reference_has_every_endpoint_of_the_urls() -> None:
    from task_api.urls import urlpatterns

    document = _hook().openapi()
    routes = {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern)) for pattern in urlpatterns
    }
    assert set(document["paths"]) == routes - {"/tasks/schema/"}
    assert "StartWait" in document["components"]["schemas"], "the tutorial's task is registered"
    rendered = _hook().rest_reference()
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}`" in rendered


def test_js_reference_has_every_export_of_the_declarations() -> None:
    source = (REPO_ROOT / "static_src" / "types" / "index.d.ts").read_text()
    exported = set(re.findall(r"^export (?:declare )?(?:\w+ )?(\w+)", source, re.M))
    rendered = _hook().js_reference()
    assert {name for name in exported if f"#### `{name}`" not in rendered} == {"TaskAPI"}
    assert "### The `TaskAPI` object" in rendered
    for name in ("run", "watch", "runAll", "Options", "TaskAPIError"):
        assert f"#### `{name}`" in rendered


def test_generated_parts_are_asked_for_by_pages() -> None:
    hook = _hook()
    asked = {
        match.group(1): path
        for path in DOCS.rglob("*.md")
        for match in hook.MARKER.finditer(path.read_text())
    }
    assert set(asked) == set(hook.RENDERERS)


# -- the site's pages ---------------------------------------------------------------------------


def _nav_pages(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_pages(value)


def _mkdocs_config() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *args: None)
    config: dict[str, Any] = yaml.load((REPO_ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    return config


def test_every_page_is_in_the_nav_once() -> None:
    config = _mkdocs_config()
    pages = list(_nav_pages(config["nav"]))
    assert len(pages) == len(set(pages))
    files = {path.relative_to(DOCS).as_posix() for path in sources() if path != README}
    assert set(pages) == files
    assert config["strict"] is True
    assert {config["validation"][key] for key in ("anchors", "unrecognized_links")} == {"warn"}


def test_readme_links_into_the_docs_land_on_pages() -> None:
    base = "https://github.com/django-task-api/django-task-api/blob/main/"
    text = README.read_text()
    links = re.findall(rf"\]\({re.escape(base)}([^)#]+)", text)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (REPO_ROOT / link).is_file(), link
    # Every page of the site is linked from the README's documentation section.
    for path in sources():
        if path != README and path.name not in ("contributing.md",):
            assert f"{base}{path.relative_to(REPO_ROOT).as_posix()}" in text, path


def test_docs_commands_exist() -> None:
    (block,) = [b for b in blocks(path=DOCS / "contributing.md") if b.lang == "sh"]
    commands = [line.split("#")[0].split() for line in block.text.splitlines()]
    assert commands == [["make", "docs"], ["scripts/docs", "--check"]]
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "docs"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.splitlines()
    assert dry[-1] == "scripts/docs "
    script = REPO_ROOT / "scripts" / "docs"
    assert os.access(script, os.X_OK)
    assert '"--check"' in script.read_text()
    assert "scripts/docs --check" in (REPO_ROOT / "scripts" / "test").read_text()


def test_data_path_diagram_names_real_routes() -> None:
    (block,) = [
        b for b in blocks(path=DOCS / "explanations" / "architecture.md") if b.lang == "mermaid"
    ]
    assert block.text.startswith("flowchart ")
    paths = re.findall(r"(?:GET|POST) (/[\w/]*(?:&lt;uuid&gt;/)?)", block.text)
    assert paths, block.text
    for path in paths:
        path = path.replace("&lt;uuid&gt;", str(uuid_lib.uuid4()))
        assert resolve(path, urlconf="task_api.urls")
    assert "start frame" in block.text
    assert protocol.CLIENT_FRAMES[2].__annotations__["type"].__args__ == ("start",)


# -- the tutorial's and the quickstart's settings and URLs, without a new project ----------------


def test_login_settings_send_visitors_to_the_admin(fresh_modules: None) -> None:
    names = exec_snippet("settings-login", {})
    load_snippet_module("view", "myapp.views")
    urls = load_snippet_module("urls", "myproject.urls")
    assert reverse(names["LOGIN_URL"], urlconf=urls) == "/admin/login/"
    (permission,) = names["REST_FRAMEWORK"]["DEFAULT_PERMISSION_CLASSES"]
    assert import_string(permission).__name__ == "IsAuthenticated"


@needs_django6
def test_tutorial_tasks_setting_is_the_backend() -> None:
    from task_api.backends.django_tasks import TaskAPIBackend

    tasks = exec_snippet("settings-tasks", {})["TASKS"]
    assert import_string(tasks["default"]["BACKEND"]) is TaskAPIBackend


@needs_django6
def test_tutorial_urls_route_every_page(fresh_modules: None) -> None:
    load_snippet_module("task", "myapp.background")
    load_snippet_module("django-task", "myapp.tasks")
    views = load_snippet_module("django-view", "myapp.views")
    first = load_snippet_module("view", "myapp.first_views")
    assert first.wait_page.__name__ == views.wait_page.__name__ == "wait_page"
    pages = {"/wait/": "wait_page", "/countdown/": "start_countdown", "/admin/login/": "login"}
    for name in ("urls", "urls-countdown", "urls-batch"):
        urls = load_snippet_module(name, f"myproject.{name.replace('-', '_')}")
        for path, view in pages.items():
            if path == "/countdown/" and name == "urls":
                continue
            assert resolve(path, urlconf=urls).func.__name__ == view, (name, path)
        assert resolve("/tasks/", urlconf=urls).namespace == "task_api"
    batch = resolve("/batch/", urlconf=urls).func
    assert batch.__wrapped__.__wrapped__.view_initkwargs == {"template_name": "myapp/batch.html"}


@pytest.mark.django_db
def test_quickstart_task_adds(fresh_modules: None) -> None:
    tasks = load_snippet_module("quickstart-task", "myproject.tasks")
    assert run(tasks.Add, a=2, b=3).assert_succeeded().outputs == {"sum": 5}
    names = exec_snippet("quickstart-settings", {"INSTALLED_APPS": []})
    assert import_string(names["TASK_API_BACKGROUND_TASKS"][0]) is tasks.Add
    assert "task_api" in names["INSTALLED_APPS"]


# -- the protocol's examples --------------------------------------------------------------------


def _protocol_block(start: str) -> str:
    (block,) = [
        b
        for b in blocks(path=DOCS / "protocol.md")
        if b.lang == "json" and not b.name and b.text.startswith(start)
    ]
    return block.text


@pytest.mark.django_db
def test_protocol_task_json_has_the_fields() -> None:
    example = json.loads(_protocol_block("{\n"))
    record = TaskRecord.objects.create(name="countdown", status=TaskStatus.RUNNING)
    assert list(example) == list(task_json(record))
    assert example["messages"] == [entry["value"] for entry in example["message_log"]]


@pytest.mark.django_db
def test_protocol_bad_requests_are_answers(django_user_model: Any) -> None:
    bad_inputs, unknown = (json.loads(line) for line in _protocol_block('{"inputs"').splitlines())
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("reader"))
    answer = client.post(
        "/tasks/", {"task": "countdown", "inputs": {"count": "ten"}}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["inputs"]["count"] == bad_inputs["inputs"]["count"]
    answer = client.post("/tasks/", {"task": "countdown", "inputs": {}}, format="json")
    assert answer.json()["inputs"]["count"] == bad_inputs["inputs"]["name"]
    answer = client.post("/tasks/", {"task": "nope"}, format="json")
    (message,) = answer.json()["task"]
    assert message.split(": ")[0] == unknown["task"][0].split(": ")[0]
    assert not TaskRecord.objects.exists()


def test_protocol_start_frames() -> None:
    frames = [
        json.loads(line.replace("{…task JSON…}", "{}"))
        for line in _protocol_block('{"type": "start"').splitlines()
    ]
    declared: dict[str, set[str]] = {}
    for frame in (*protocol.CLIENT_FRAMES, *protocol.SERVER_FRAMES):
        (kind,) = frame.__annotations__["type"].__args__
        declared.setdefault(kind, set()).update(frame.__annotations__)
    assert [frame["type"] for frame in frames] == ["start", "started", "error"]
    for frame in frames:
        assert set(frame) <= declared[frame["type"]], frame
    assert frames[2]["detail"] == protocol.INVALID_DETAIL
    assert frames[0]["ref"] == frames[1]["ref"]


def test_snippet_names_and_files_are_unique() -> None:
    names = [block.name for block in blocks() if block.name]
    assert len(names) == len(set(names))
    assert snippet("task") in (DOCS / "tutorial.md").read_text()
