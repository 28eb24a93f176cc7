"""The task registry: settings read lazily, dotted paths and classes, the catalog and
OpenAPI document built from it, and the system checks."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings
from rest_framework.test import APIClient

from task_api.checks import check_backend, check_tasks
from task_api.exceptions import ConfigurationError, UnknownTask
from task_api.models import TaskRecord
from task_api.params import StringParameter
from task_api.registry import get_task, get_tasks, load_entry
from task_api.tasks import Task
from tests.project.tasks import Add, Countdown, Echo

# Imported independently of the registry, from the test project's settings.
PROJECT_TASKS = sorted(load_entry(path).name for path in settings.TASK_API_BACKGROUND_TASKS)


class Shout(Task):
    """Upper-cases its input."""

    name = "shout"
    inputs = {"text": StringParameter()}
    outputs = {"text": StringParameter()}

    def run(self, text: str) -> str:
        return text.upper()


class AlsoAdd(Task):
    name = "add"


class Nameless(Task):
    pass


class NotATask:
    name = "not-a-task"


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("alice"))
    return client


def task_api_errors(**overrides: Any) -> list[tuple[str, str]]:
    """The ``task_api`` system check errors under the given settings, as (id, message)."""
    with override_settings(**overrides):
        # No database: Django 6 runs the model checks against every database by default.
        messages = run_checks(databases=[])
    return [(m.id, m.msg) for m in messages if (m.id or "").startswith("task_api.")]


# -- the registry -----------------------------------------------------------------------


def test_project_tasks_are_registered_from_dotted_paths() -> None:
    tasks = get_tasks()
    assert sorted(tasks) == PROJECT_TASKS
    assert {"add", "countdown", "echo", "fail"} <= set(PROJECT_TASKS)
    assert tasks["add"] is Add
    assert get_task("countdown") is Countdown


def test_class_objects_are_accepted() -> None:
    with override_settings(TASK_API_BACKGROUND_TASKS=[Shout, "tests.project.tasks.Echo"]):
        assert get_tasks() == {"shout": Shout, "echo": Echo}


def test_background_classes_setting_is_honoured() -> None:
    with override_settings(
        TASK_API_BACKGROUND_TASKS=["tests.project.tasks.Add"],
        TASK_API_BACKGROUND_CLASSES=[Shout, "tests.project.tasks.Echo"],
    ):
        assert sorted(get_tasks()) == ["add", "echo", "shout"]
    with override_settings(TASK_API_BACKGROUND_TASKS=[], TASK_API_BACKGROUND_CLASSES=[Shout]):
        assert get_tasks() == {"shout": Shout}


def test_settings_are_read_lazily_and_restored() -> None:
    with override_settings(TASK_API_BACKGROUND_TASKS=[Shout]):
        assert list(get_tasks()) == ["shout"]
        with pytest.raises(UnknownTask):
            get_task("add")
    assert sorted(get_tasks()) == PROJECT_TASKS
    with override_settings(TASK_API_BACKGROUND_TASKS=[]):
        assert get_tasks() == {}


def test_the_same_class_twice_is_one_task() -> None:
    with override_settings(TASK_API_BACKGROUND_TASKS=[Shout, "tests.test_registry.Shout"]):
        assert get_tasks() == {"shout": Shout}


@pytest.mark.parametrize("name", ["nope", "Add", "tests.project.tasks.Add", "os.system", ""])
def test_unknown_name_lists_the_known_tasks(name: str) -> None:
    with pytest.raises(UnknownTask) as info:
        get_task(name)
    assert str(info.value) == f"Unknown task {name!r}; known tasks: {', '.join(PROJECT_TASKS)}."


def test_unknown_name_with_no_tasks_registered() -> None:
    with override_settings(TASK_API_BACKGROUND_TASKS=[]), pytest.raises(UnknownTask, match="none"):
        get_task("add")


@pytest.mark.parametrize("name", [["add"], {"add": 1}, None, 5])
def test_a_non_string_name_is_unknown(name: Any) -> None:
    with pytest.raises(UnknownTask):
        get_task(name)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("tests.project.tasks.Missing", "Cannot import task 'tests.project.tasks.Missing'"),
        ("no_such_module.Task", "Cannot import task 'no_such_module.Task'"),
        ("notdotted", "Cannot import task 'notdotted'"),
        ("tests.test_registry.NotATask", "is not a subclass of task_api.tasks.Task"),
        (NotATask, "is not a subclass of task_api.tasks.Task"),
        (Add(), "is not a subclass of task_api.tasks.Task"),
        (Nameless, "Task class Nameless has no name"),
    ],
)
def test_load_entry_rejects_bad_entries(entry: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace(".", r"\.")):
        load_entry(entry)


# -- a task name never imports anything ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("tabnanny.check", "tabnanny"),
        ("os.system", None),
        ("tests.project.tasks.Add", None),
        ("task_api.tasks.Task", None),
        ("tests.test_registry.Shout", None),
    ],
)
def test_posting_a_dotted_path_imports_nothing(
    api: APIClient, name: str, module: str | None
) -> None:
    if module is not None:
        assert module not in sys.modules
    response = api.post("/tasks/", {"task": name, "inputs": {}}, format="json")
    assert response.status_code == 400
    assert response.json()["task"] == [
        f"Unknown task {name!r}; known tasks: {', '.join(PROJECT_TASKS)}."
    ]
    assert not TaskRecord.objects.exists()
    if module is not None:
        assert module not in sys.modules


# -- catalog and OpenAPI -------------------------------------------------------------------


@pytest.mark.django_db
def test_catalog_lists_every_task_with_its_schemas(api: APIClient) -> None:
    catalog = api.get("/tasks/catalog/").json()
    tasks = get_tasks()
    assert [entry["name"] for entry in catalog] == sorted(tasks)
    for entry in catalog:
        cls = tasks[entry["name"]]
        assert entry["inputs"] == cls.input_schema()
        assert entry["outputs"] == cls.output_schema()
        assert entry["description"] == cls.get_description()
        assert entry["title"] == cls.get_title()
    add = next(entry for entry in catalog if entry["name"] == "add")
    assert add["inputs"]["required"] == ["a"]
    assert add["title"] == "Add"
    assert add["outputs"]["properties"]["sum"]["type"] == "number"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, kind, name = schema["$ref"].split("/")
        schema = document["components"][kind][name]
    return schema


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/tasks/schema/?format=json", {}),
        ("/tasks/schema/", {"HTTP_ACCEPT": "application/json"}),
        ("/tasks/schema/", {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}),
    ],
)
def test_openapi_document_has_every_tasks_inputs(api: APIClient, url: str, headers: Any) -> None:
    response = api.get(url, **headers)
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {"/tasks/", "/tasks/{uuid}/", "/tasks/{uuid}/cancel/", "/tasks/catalog/"} <= set(paths)
    assert not any(path.startswith("/admin") for path in paths)
    content = paths["/tasks/"]["post"]["requestBody"]["content"]["application/json"]
    body = _resolve(document, content["schema"])
    tasks = get_tasks()
    variants = [_resolve(document, variant) for variant in body["oneOf"]]
    assert [variant["title"] for variant in variants] == sorted(tasks)
    mapping = body["discriminator"]["mapping"]
    assert body["discriminator"]["propertyName"] == "task"
    assert sorted(mapping) == sorted(tasks)
    for variant in variants:
        name = variant["title"]
        cls = tasks[name]
        # The same schema, a default said in the description (optional in generated clients).
        inputs = cls.input_schema()
        for prop in inputs["properties"].values():
            if "default" in prop:
                default = json.dumps(prop.pop("default"))
                prop["description"] = f"{prop.get('description', '')} Default: {default}.".lstrip()
        assert variant["properties"]["inputs"] == inputs
        task_schema = _resolve(document, variant["properties"]["task"])
        assert (task_schema["type"], task_schema["enum"]) == ("string", [name])
        assert _resolve(document, {"$ref": mapping[name]}) is variant


@pytest.mark.django_db
def test_openapi_document_does_not_need_the_global_schema_class(api: APIClient) -> None:
    with override_settings(REST_FRAMEWORK={}):
        response = api.get("/tasks/schema/?format=json")
    assert response.status_code == 200
    assert "/tasks/" in json.loads(response.content)["paths"]


# -- system checks ----------------------------------------------------------------------------


def test_project_settings_pass_the_checks() -> None:
    assert task_api_errors() == []
    assert check_tasks() == []
    assert check_backend() == []


@pytest.mark.parametrize(
    ("entries", "check_id", "fragment"),
    [
        (["tests.project.tasks.Missing"], "task_api.E001", "Cannot import task"),
        (["no_such_module.Task"], "task_api.E001", "No module named 'no_such_module'"),
        (["tests.test_registry.NotATask"], "task_api.E002", "is not a subclass"),
        ([Nameless], "task_api.E002", "has no name"),
        ([AlsoAdd, Add], "task_api.E003", "Task name 'add' is used by both"),
        (["tests.project.tasks.Add", "tests.test_registry.AlsoAdd"], "task_api.E003", "AlsoAdd"),
    ],
)
def test_task_checks_by_id(entries: list[Any], check_id: str, fragment: str) -> None:
    errors = task_api_errors(TASK_API_BACKGROUND_TASKS=entries)
    assert [error_id for error_id, _ in errors] == [check_id]
    assert fragment in errors[0][1]
    with override_settings(TASK_API_BACKGROUND_TASKS=entries):
        assert [e.id for e in check_tasks()] == [check_id]


def test_checks_cover_background_classes_and_report_every_bad_entry() -> None:
    errors = task_api_errors(
        TASK_API_BACKGROUND_TASKS=["tests.project.tasks.Missing"],
        TASK_API_BACKGROUND_CLASSES=[Nameless, AlsoAdd, Add],
    )
    assert [error_id for error_id, _ in errors] == [
        "task_api.E001",
        "task_api.E002",
        "task_api.E003",
    ]


@pytest.mark.parametrize(
    "backend",
    ["task_api.backends.nope.Backend", "task_api.backends.celery.Nope", "tests.project.tasks.Add"],
)
def test_backend_check(backend: str) -> None:
    errors = task_api_errors(TASK_API_BACKEND=backend)
    assert [error_id for error_id, _ in errors] == ["task_api.E004"]
    assert repr(backend) in errors[0][1]


@pytest.mark.parametrize(
    "backend",
    ["task_api.backends.celery.CeleryBackend", "task_api.backends.inprocess.InProcessBackend"],
)
def test_real_backends_pass_the_check(backend: str) -> None:
    assert task_api_errors(TASK_API_BACKEND=backend) == []


# -- a bad entry does not break the other tasks ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_bad_entry_does_not_break_requests(api: APIClient) -> None:
    client = api
    entries = ["tests.project.tasks.Missing", "tests.project.tasks.Add", Nameless]
    with override_settings(TASK_API_BACKGROUND_TASKS=entries):
        assert [entry["name"] for entry in client.get("/tasks/catalog/").json()] == ["add"]
        response = client.post("/tasks/", {"task": "add", "inputs": {"a": 1}}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["outputs"] == {"sum": 2}
        assert client.get("/tasks/").status_code == 200


def test_bad_entries_are_logged_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    entries = ["tests.project.tasks.Missing", AlsoAdd, "tests.project.tasks.Add", Shout]
    with override_settings(TASK_API_BACKGROUND_TASKS=entries):
        assert get_tasks() == {"add": AlsoAdd, "shout": Shout}
    logged = [r.getMessage() for r in caplog.records if r.name == "task_api.registry"]
    assert len(logged) == 2
    assert "Cannot import task 'tests.project.tasks.Missing'" in logged[0]
    assert "the name 'add' is already used by tests.test_registry.AlsoAdd" in logged[1]
