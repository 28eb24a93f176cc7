"""Input that is valid JSON but not valid Unicode; bodies over Django's limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DataError, connection
from rest_framework.test import APIClient

from task_api.api.renderers import replace_surrogates
from task_api.models import TaskRecord


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("alice", password="pw"))
    return client


def post(api: APIClient, body: str) -> Any:
    return api.post("/tasks/", data=body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ('{"task": "echo", "inputs": {"\\ud800": 1}}', {"inputs": ["The name '\\ud800'"]}),
        (
            '{"task": "echo", "inputs": {"value": {"a": ["ok", "\\udfff"]}}}',
            {"inputs": {"value": {"a": {"1": ["The value '\\udfff'"]}}}},
        ),
        ('{"task": "echo\\ud800"}', {"task": ["The value 'echo\\ud800'"]}),
        ('["\\ud800"]', {"0": ["The value '\\ud800'"]}),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(
    api: APIClient, body: str, errors: dict[str, Any]
) -> None:
    response = post(api, body)
    assert response.status_code == 400, response.content
    detail = response.json()

    def match(got: Any, want: Any) -> None:
        if isinstance(want, dict):
            assert isinstance(got, dict), got
            assert set(got) == set(want), got
            for key in want:
                match(got[key], want[key])
        else:
            assert got[0].startswith(want[0]), got
            assert "not valid Unicode" in got[0]

    match(detail, errors)
    assert not TaskRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ('{"task": "echo", "inputs": {"value": "a\\u0000b"}}', {"inputs": {"value": "'a\\x00b'"}}),
        ('{"task": "echo", "inputs": {"\\u0000": 1}}', {"inputs": "'\\x00'"}),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(
    api: APIClient, body: str, errors: dict[str, Any]
) -> None:
    # PostgreSQL cannot store NUL in JSON: refused on every database alike.
    response = post(api, body)
    assert response.status_code == 400, response.content
    detail = response.json()
    for key, want in errors.items():
        detail = detail[key]
        while isinstance(want, dict):
            ((key, want),) = want.items()
            detail = detail[key]
        assert want in detail[0], detail
        assert "NUL character" in detail[0], detail
    assert not TaskRecord.objects.exists()


@pytest.mark.django_db
def test_a_valid_surrogate_pair_is_an_ordinary_character(api: APIClient) -> None:
    response = post(api, '{"task": "echo", "inputs": {"value": {"a": "\\ud83d\\ude00"}}}')
    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
def test_reads_survive_bad_text_stored_earlier(api: APIClient) -> None:
    """A task stored before input was checked still reads, alone and in the list.

    SQLite stores such text (escaped in its JSON); PostgreSQL refuses it, so
    there nothing bad can be stored to begin with.
    """
    uuid = post(api, '{"task": "echo", "inputs": {"value": {"a": "x"}}}').json()["uuid"]
    bad = {
        "outputs": {"value": {"a": "bad \ud800"}},
        "messages": [{"value": "\udfff", "level": "info", "time": "2026-01-01T00:00:00Z"}],
    }
    if connection.vendor == "postgresql":
        with pytest.raises(DataError, match="surrogate"):
            TaskRecord.objects.filter(uuid=uuid).update(**bad)
        return
    TaskRecord.objects.filter(uuid=uuid).update(**bad)
    one = api.get(f"/tasks/{uuid}/")
    assert one.status_code == 200, one.content
    assert one.json()["outputs"] == {"value": {"a": "bad \ufffd"}}
    assert one.json()["messages"] == ["\ufffd"]
    listed = api.get("/tasks/")
    assert listed.status_code == 200
    assert listed.json()["results"][0]["uuid"] == uuid


def test_replace_surrogates_keeps_everything_else() -> None:
    value = {"k\ud800": ["a", 1, None, {"b": "\udc00c"}], "n": 2.5}
    assert replace_surrogates(value) == {"k\ufffd": ["a", 1, None, {"b": "\ufffdc"}], "n": 2.5}


@pytest.mark.django_db
def test_a_body_over_djangos_limit_answers_the_documented_413(
    api: APIClient, settings: Any
) -> None:
    settings.TASK_API_MAX_REQUEST_BYTES = 10_000_000  # Django's own limit applies first
    body = json.dumps({"task": "echo", "inputs": {"value": {"a": "x" * 3_000_000}}})
    response = post(api, body)
    assert response.status_code == 413, response.content[:200]
    assert response["Content-Type"] == "application/json"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert response.json() == {"detail": f"The request body is over the limit of {limit} bytes."}
