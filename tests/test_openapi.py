"""The OpenAPI document: any DEFAULT_SCHEMA_CLASS, meaningful ids, per-task outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from task_api.registry import get_tasks

REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: drf-spectacular reads DEFAULT_SCHEMA_CLASS when
# its modules are imported, so a changed setting in this process proves nothing.
_FRESH_PROCESS = """
import json, sys
from django.conf import settings
settings.REST_FRAMEWORK = json.loads(sys.argv[1])
import django
django.setup()
from django.test import Client
response = Client().get("/tasks/schema/?format=json")
print(response.status_code)
print(response.content.decode())
"""


@pytest.mark.parametrize(
    "schema_class",
    [None, "rest_framework.schemas.openapi.AutoSchema", "drf_spectacular.openapi.AutoSchema"],
)
def test_document_whatever_the_default_schema_class(schema_class: str | None) -> None:
    rest_framework: dict[str, Any] = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]
    }
    if schema_class:
        rest_framework["DEFAULT_SCHEMA_CLASS"] = schema_class
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, json.dumps(rest_framework)],
        cwd=REPO_ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.project.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status, body = done.stdout.split("\n", 1)
    assert status == "200", body[-2000:] + done.stderr[-2000:]
    paths = json.loads(body)["paths"]
    assert {
        "/tasks/",
        "/tasks/{uuid}/",
        "/tasks/{uuid}/cancel/",
        "/tasks/{uuid}/streams/{stream}/",
        "/tasks/{uuid}/events/",
        "/tasks/{uuid}/share/",
        "/tasks/{uuid}/share/revoke/",
        "/tasks/batches/{uuid}/share/",
        "/tasks/batches/{uuid}/share/revoke/",
        "/tasks/catalog/",
        "/tasks/batches/",
        "/tasks/batches/{uuid}/",
        "/tasks/batches/{uuid}/cancel/",
        "/tasks/batches/{uuid}/events/",
    } == set(paths)


@pytest.fixture
def document(django_user_model: Any) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("reader"))
    response = client.get("/tasks/schema/?format=json")
    assert response.status_code == 200
    result: dict[str, Any] = json.loads(response.content)
    return result


@pytest.mark.django_db
def test_operation_ids_and_version(document: dict[str, Any]) -> None:
    ids = {
        (path, method): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == {
        ("/tasks/", "get"): "tasks_list",
        ("/tasks/", "post"): "tasks_create",
        ("/tasks/{uuid}/", "get"): "tasks_retrieve",
        ("/tasks/{uuid}/cancel/", "post"): "tasks_cancel",
        ("/tasks/{uuid}/streams/{stream}/", "get"): "tasks_stream",
        ("/tasks/{uuid}/events/", "get"): "tasks_events",
        ("/tasks/{uuid}/share/", "post"): "tasks_share",
        ("/tasks/{uuid}/share/revoke/", "post"): "tasks_share_revoke",
        ("/tasks/batches/{uuid}/share/", "post"): "tasks_batches_share",
        ("/tasks/batches/{uuid}/share/revoke/", "post"): "tasks_batches_share_revoke",
        ("/tasks/catalog/", "get"): "tasks_catalog",
        ("/tasks/batches/", "post"): "tasks_batches_create",
        ("/tasks/batches/{uuid}/", "get"): "tasks_batches_retrieve",
        ("/tasks/batches/{uuid}/cancel/", "post"): "tasks_batches_cancel",
        ("/tasks/batches/{uuid}/events/", "get"): "tasks_batches_events",
    }
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert document["info"]["version"] == project["version"]


@pytest.mark.django_db
def test_component_descriptions_are_one_paragraph(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["Task"]["description"] == "A task as the API shows it."
    for name, schema in schemas.items():
        assert "\n\n" not in schema.get("description", ""), name
        assert "task_json" not in json.dumps(schema), name


@pytest.mark.django_db
def test_each_tasks_outputs_have_a_component(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    outputs = schemas["Task"]["properties"]["outputs"]
    refs = [choice["$ref"].rsplit("/", 1)[1] for choice in outputs["anyOf"] if "$ref" in choice]
    assert {"type": "object", "maxProperties": 0} in outputs["anyOf"]
    by_title = {schemas[ref]["title"]: schemas[ref] for ref in refs}
    assert sorted(by_title) == [f"{name} outputs" for name in sorted(get_tasks())]
    wait = by_title["wait outputs"]
    assert wait["properties"] == {"waited": {"type": "integer"}}
    assert wait["required"] == ["waited"]


@pytest.mark.django_db
def test_optional_inputs_carry_no_default_key(document: dict[str, Any]) -> None:
    """openapi-typescript makes a property with ``default`` required: inputs carry none."""
    schemas = document["components"]["schemas"]
    wait = schemas["StartWait"]
    inputs = wait["properties"]["inputs"]
    assert wait["required"] == ["task"]
    assert "required" not in inputs
    assert inputs["properties"]["seconds"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 600,
        "description": "Default: 10.",
    }
    for name, cls in get_tasks().items():
        variant = next(
            s
            for s in schemas.values()
            if s.get("title") == name and "task" in s.get("properties", {})
        )
        props = variant["properties"]["inputs"].get("properties", {})
        assert not any("default" in prop for prop in props.values()), name
        required = [key for key, param in cls.inputs.items() if param.required]
        assert variant["properties"]["inputs"].get("required", []) == required, name


@pytest.mark.django_db
def test_list_filter_with_a_nul_character_finds_nothing(django_user_model: Any) -> None:
    """Found by the schema fuzzer on PostgreSQL, which refuses NUL in text: no 500."""
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("reader"))
    response = client.get("/tasks/", {"task": "wa\x00it"})
    assert response.status_code == 200
    assert response.json()["results"] == []
