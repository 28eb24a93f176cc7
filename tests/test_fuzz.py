"""The REST API fuzzed from its own OpenAPI document: no 5xx, answers match the document."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

# Tasks that end quickly whatever their inputs, so that generated bodies run for real.
FUZZED_TASKS = [
    "tests.project.tasks.Add",
    "tests.project.tasks.Fail",
    "tests.project.tasks.Messages",
    "tests.project.tasks.MultiOutput",
    "tests.project.tasks.BadOutput",
    "tests.project.tasks.Echo",
]


@pytest.fixture
def api_schema(transactional_db: None, settings: Any, django_user_model: Any) -> Any:
    settings.TASK_API_BACKGROUND_TASKS = FUZZED_TASKS
    settings.TASK_API_MAX_RUNNING_PER_USER = None
    user = django_user_model.objects.create_user("fuzzer", password="pw-fuzzer")
    client = Client()
    client.force_login(user)
    raw = client.get("/tasks/schema/", HTTP_ACCEPT="application/json").json()
    schema = schemathesis.openapi.from_dict(raw)
    # NUL is refused on purpose (PostgreSQL cannot store it); test_hostile_input covers it.
    schema.config.generation.update(allow_x00=False)
    schema.app = get_wsgi_application()
    return schema


AUTH = {"Authorization": "Basic " + base64.b64encode(b"fuzzer:pw-fuzzer").decode()}


def test_api_conforms_to_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            # Authentication is given explicitly here, which the ignored-auth check
            # cannot strip; tests/test_security.py covers refused credentials.
            case.call_and_validate(headers=AUTH, excluded_checks=[checks.ignored_auth])

        call()


def test_the_fuzzed_document_lists_every_task_body(api_schema: Any) -> None:
    bodies = api_schema.raw_schema["components"]["schemas"]
    assert {
        "StartAdd",
        "StartFail",
        "StartMessages",
        "StartMulti",
        "StartBadOutput",
        "StartEcho",
    } <= set(bodies)
