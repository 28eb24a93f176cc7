"""The REST API with the default Celery backend (eager in the test settings)."""

from __future__ import annotations

import json
import uuid as uuid_lib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from task_api.backends.celery import TaskFailed, run_task
from task_api.engine.service import start as start_task
from task_api.models import TaskRecord, TaskStatus
from tests.project.celery import app as celery_app
from tests.project.tasks import Add

_OPTIONAL_INT, _OPTIONAL_STR = (int, type(None)), (str, type(None))
PREDECESSOR_FIELDS = {
    **dict.fromkeys(["uuid", "task", "status", "created"], str),
    **dict.fromkeys(["progress", "target"], _OPTIONAL_INT),
    **dict.fromkeys(["started", "finished"], _OPTIONAL_STR),
    "outputs": dict,
    "messages": list,
}


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob")


@pytest.fixture
def api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def post(api: APIClient, task: str, inputs: Any = None, **extra: Any) -> Any:
    body = {"task": task} if inputs is None else {"task": task, "inputs": inputs}
    return api.post("/tasks/", body, format="json", **extra)


def post_raw(api: APIClient, body: str | bytes) -> Any:
    return api.post("/tasks/", body, content_type="application/json")


def record_for(owner: Any, name: str = "add", status: str = "pending", **fields: Any) -> Any:
    return TaskRecord.objects.create(owner=owner, name=name, status=status, **fields)


# -- starting and reading ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_post_answers_201_with_location_and_the_task_json(api: APIClient) -> None:
    response = post(api, "add", {"a": 2, "b": "3"})
    assert response.status_code == 201, response.content
    body = response.json()
    for field, kind in PREDECESSOR_FIELDS.items():
        assert isinstance(body[field], kind), field
    assert "inputs" not in body
    assert uuid_lib.UUID(body["uuid"])
    assert response["Location"] == f"http://testserver/tasks/{body['uuid']}/"
    assert (body["task"], body["status"], body["outputs"]) == ("add", "succeeded", {"sum": 5})
    for field in ("created", "started", "finished"):
        assert datetime.fromisoformat(body[field]).tzinfo is not None
    assert body["error"] is None
    assert api.get(response["Location"]).json() == body


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("task", "inputs", "expected"),
    [
        ("countdown", {"count": 3}, {"progress": 3, "target": 3, "outputs": {"counted": 3}}),
        ("messages", {"lines": ["a", "b"]}, {"messages": ["a", "b"], "outputs": {"count": 2}}),
        (
            "multi",
            {"text": "ab"},
            {"outputs": {"upper": "AB", "info": {"text": "ab"}, "length": 2}},
        ),
        ("echo", {"value": {"k": [1]}}, {"outputs": {"value": {"k": [1]}}}),
        ("echo", {}, {"outputs": {"value": {}}}),
    ],
)
def test_eager_tasks_succeed_in_the_post_response(
    api: APIClient, task: str, inputs: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = post(api, task, inputs).json()
    assert body["status"] == "succeeded", body
    assert {key: body[key] for key in expected} == expected
    assert api.get(f"/tasks/{body['uuid']}/").json()["status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_failed_task_exposes_the_error_but_never_the_traceback(api: APIClient) -> None:
    response = post(api, "fail", {"reason": "it broke"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"] == {"type": "ValueError", "message": "it broke"}
    assert body["outputs"] == {}
    assert body["finished"] is not None
    detail = api.get(f"/tasks/{body['uuid']}/")
    assert detail.json() == body
    for content in (response.content, detail.content, api.get("/tasks/").content):
        assert b"Traceback" not in content
        assert b"traceback" not in content
    assert "Traceback" in TaskRecord.objects.get(uuid=body["uuid"]).traceback


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("task", "inputs", "state"), [("fail", {}, "FAILURE"), ("add", {"a": 1}, "SUCCESS")]
)
def test_celery_sees_the_outcome(alice: Any, task: str, inputs: Any, state: str) -> None:
    record = record_for(alice, task, inputs=inputs)
    result = run_task.apply(args=[str(record.uuid)])
    assert result.state == state
    if state == "FAILURE":
        assert isinstance(result.result, TaskFailed)
        assert str(result.result) == "ValueError: boom"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("missing", "missing outputs ['label']"),
        ("extra", "unexpected outputs ['other']"),
        ("type", "output 'value'"),
        ("scalar", "must return a dict; got str"),
    ],
)
def test_output_mismatch_fails_the_task(api: APIClient, mode: str, fragment: str) -> None:
    body = post(api, "bad-output", {"mode": mode}).json()
    assert body["status"] == "failed"
    assert body["error"]["type"] == "OutputError"
    assert fragment in body["error"]["message"]
    assert body["outputs"] == {}


@pytest.mark.django_db(transaction=True)
def test_dispatch_waits_for_the_commit_and_never_overwrites_the_worker(alice: Any) -> None:
    owner = {"owner": alice, "session_key": ""}
    with transaction.atomic():
        record, created = start_task(Add, {"a": 1}, owner=owner)
        assert created
        assert TaskRecord.objects.get(pk=record.pk).status == "pending"
    stored = TaskRecord.objects.get(pk=record.pk)
    assert (stored.status, stored.outputs, stored.attempt) == ("succeeded", {"sum": 2}, 1)


@pytest.mark.django_db
def test_post_inside_a_request_transaction_runs_on_commit(
    api: APIClient, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        body = post(api, "add", {"a": 1}).json()
        assert body["status"] == "pending"
    assert len(callbacks) == 1
    assert api.get(f"/tasks/{body['uuid']}/").json()["outputs"] == {"sum": 2}


# -- listing ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_own_tasks_newest_first_with_filters_and_pages(
    api: APIClient, alice: Any, bob: Any
) -> None:
    now = timezone.now()
    statuses = ["pending", "running", "succeeded", "failed", "cancelled"]
    mine = [
        record_for(
            alice, "add" if i % 2 else "echo", statuses[i % 5], created=now - timedelta(minutes=i)
        )
        for i in range(7)
    ]
    record_for(bob, "add", created=now + timedelta(minutes=1))
    body = api.get("/tasks/").json()
    assert body["count"] == 7
    assert (body["next"], body["previous"]) == (None, None)
    assert [t["uuid"] for t in body["results"]] == [str(r.uuid) for r in mine]
    assert [t["task"] for t in api.get("/tasks/?task=add").json()["results"]] == ["add"] * 3
    assert [t["uuid"] for t in api.get("/tasks/?status=failed").json()["results"]] == [
        str(mine[3].uuid)
    ]
    both = api.get("/tasks/?task=echo&status=running").json()["results"]
    assert [t["uuid"] for t in both] == [str(mine[6].uuid)]
    page = api.get("/tasks/?page_size=3&page=2").json()
    assert [t["uuid"] for t in page["results"]] == [str(r.uuid) for r in mine[3:6]]
    assert page["next"].endswith("page=3&page_size=3")
    with override_settings(TASK_API_PAGE_SIZE=5):
        assert len(api.get("/tasks/").json()["results"]) == 5
    assert api.get("/tasks/?page=9").status_code == 404


@pytest.mark.django_db
def test_invalid_status_filter_is_a_400_naming_the_parameter(api: APIClient) -> None:
    response = api.get("/tasks/?status=done")
    assert response.status_code == 400
    assert list(response.json()) == ["status"]
    assert "'done'" in response.json()["status"][0]
    assert "succeeded" in response.json()["status"][0]


# -- client mistakes -------------------------------------------------------------------------

REQUIRED = ["This field is required."]
NOT_AN_OBJECT = {"non_field_errors": ["Expected a JSON object with 'task' and 'inputs'."]}
NOT_A_DICT = 'Expected a dictionary of items but got type "{}".'
BAD_BODIES: list[tuple[Any, dict[str, Any]]] = [
    ({}, {"task": REQUIRED}),
    ({"inputs": {}}, {"task": REQUIRED}),
    ({"task": ["add"]}, {"task": ["Not a valid string."]}),
    ({"task": "add", "inputs": None}, {"inputs": ["This field may not be null."]}),
    ({"task": "add", "inputs": [1, 2]}, {"inputs": [NOT_A_DICT.format("list")]}),
    ({"task": "add", "inputs": "a=1"}, {"inputs": [NOT_A_DICT.format("str")]}),
    ({"task": "multi", "inputs": {}}, {"inputs": {"text": ["This input is required."]}}),
    ({"task": "add"}, {"inputs": {"a": ["This input is required."]}}),
    ([{"task": "add"}], NOT_AN_OBJECT),
    ("add", NOT_AN_OBJECT),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "errors"), BAD_BODIES)
def test_client_mistakes_are_400_naming_the_field(api: APIClient, body: Any, errors: Any) -> None:
    response = api.post("/tasks/", body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not TaskRecord.objects.exists()


@pytest.mark.django_db
def test_every_bad_input_is_reported_at_once(api: APIClient) -> None:
    response = post(api, "countdown", {"delay": "slow", "bogus": 1, "count_": 2})
    assert response.status_code == 400
    errors = response.json()["inputs"]
    assert sorted(errors) == ["bogus", "count", "count_", "delay"]
    assert errors["count"] == ["This input is required."]
    assert errors["delay"] == ["A valid number is required; got 'slow'."]
    assert errors["bogus"] == ["Unexpected input 'bogus'; known inputs: count, delay."]


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "stored"), [("6", 6), (6, 6), (6.0, 6), (" 7 ", 7)])
def test_int_parameter_accepts_integral_values(api: APIClient, value: Any, stored: int) -> None:
    assert post(api, "countdown", {"count": value}).status_code == 201
    assert TaskRecord.objects.get().inputs == {"count": stored}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["nan", "inf", "-Infinity", "1e400", 5.9, True, False, "not a number", "", [1], {}]
)
def test_int_parameter_rejects_other_values(api: APIClient, value: Any) -> None:
    response = post(api, "countdown", {"count": value})
    assert response.status_code == 400
    assert list(response.json()["inputs"]) == ["count"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        '{"task": "add", "inputs": {"a": 1',
        '{"task": "add", "inputs": {"a": NaN}}',
        '{"task": "add", "inputs": {"a": Infinity}}',
        '{"task": "add", "inputs": {"a": -Infinity}}',
        "[" * 100_000 + "]" * 100_000,
        '{"task": "echo", "inputs": {"value": ' + '{"a": ' * 100_000 + "1" + "}" * 100_002,
        b'{"task": "add\xff"}',
    ],
    ids=["truncated", "nan", "inf", "-inf", "nested-lists", "nested-dicts", "not-utf8"],
)
def test_malformed_json_is_a_400(api: APIClient, raw: str | bytes) -> None:
    response = post_raw(api, raw)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert not TaskRecord.objects.exists()


@pytest.mark.django_db
def test_empty_body_is_a_400(api: APIClient) -> None:
    response = post_raw(api, "")
    assert response.status_code == 400
    assert response.json() == {"task": REQUIRED}


@pytest.mark.django_db
def test_nesting_past_the_depth_limit_is_a_400(api: APIClient) -> None:
    value: Any = 1
    for _ in range(40):
        value = {"a": value}
    response = post(api, "echo", {"value": value})
    assert response.status_code == 400
    assert "TASK_API_MAX_DEPTH" in json.dumps(response.json()["inputs"]["value"])


@pytest.mark.django_db
@override_settings(TASK_API_MAX_REQUEST_BYTES=200)
def test_body_over_the_limit_is_a_413(api: APIClient) -> None:
    response = post(api, "echo", {"value": {"text": "x" * 200}})
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is over the limit of 200 bytes."}
    assert post(api, "echo", {"value": {"text": "x"}}).status_code == 201


# -- not found -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/tasks/{uuid_lib.uuid4()}/"),
        ("post", f"/tasks/{uuid_lib.uuid4()}/cancel/"),
        ("get", "/tasks/not-a-uuid/"),
        ("post", "/tasks/12345/cancel/"),
        ("get", "/"),
        ("get", "/tasks/catalog/nope/"),
    ],
)
def test_not_found(api: APIClient, method: str, path: str) -> None:
    assert getattr(api, method)(path).status_code == 404


@pytest.mark.django_db
def test_another_users_task_is_404(api: APIClient, bob: Any) -> None:
    record = record_for(bob, status=TaskStatus.SUCCEEDED)
    response = api.get(f"/tasks/{record.uuid}/")
    assert response.status_code == 404
    assert response.json() == {"detail": f"No task {str(record.uuid)!r}."}


# -- cancel ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("owner", "before", "code", "after"),
    [
        ("alice", "pending", 202, "cancelled"),
        ("alice", "running", 202, "running"),
        ("alice", "succeeded", 409, "succeeded"),
        ("alice", "failed", 409, "failed"),
        ("alice", "cancelled", 409, "cancelled"),
        ("bob", "pending", 404, "pending"),
        ("bob", "running", 404, "running"),
    ],
)
def test_cancel(
    api: APIClient, request: Any, owner: str, before: str, code: int, after: str
) -> None:
    record = record_for(request.getfixturevalue(owner), status=before, attempt=1)
    response = api.post(f"/tasks/{record.uuid}/cancel/")
    assert response.status_code == code
    record.refresh_from_db()
    assert (record.status, record.cancel_requested) == (after, code == 202)
    body = response.json()
    if code == 202:
        assert (body["status"], body["cancel_requested"]) == (after, True)
    if after == "cancelled" and code == 202:
        assert body["error"]["type"] == "Cancelled"
        assert body["finished"] is not None
    if code == 409:
        uuid = str(record.uuid)
        assert body == {"detail": f"Task {uuid!r} already finished with status {before!r}."}


# -- idempotency, limits and a broker that is down -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_idempotency_key(api: APIClient, bob: Any) -> None:
    first = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    repeat = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    other = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k2")
    assert (first.status_code, repeat.status_code, other.status_code) == (201, 200, 201)
    assert repeat.json() == first.json()
    assert other.json()["uuid"] != first.json()["uuid"]
    client_b = APIClient()
    client_b.force_authenticate(bob)
    assert post(client_b, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    assert TaskRecord.objects.count() == 3
    too_long = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert too_long.status_code == 400
    assert list(too_long.json()) == ["Idempotency-Key"]


@pytest.mark.django_db(transaction=True)
def test_a_new_idempotency_key_costs_no_statement_more_than_none(api: APIClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post(api, "add", {"a": 1})  # the session and user are loaded once
    with CaptureQueriesContext(connection) as without_key:
        assert post(api, "add", {"a": 1}).status_code == 201
    with CaptureQueriesContext(connection) as with_key:
        assert post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="fresh").status_code == 201
    assert [q["sql"].split()[0] for q in with_key.captured_queries] == [
        q["sql"].split()[0] for q in without_key.captured_queries
    ]


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_window_passed_starts_a_new_task(api: APIClient) -> None:
    first = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1").json()
    TaskRecord.objects.filter(uuid=first["uuid"]).update(created=timezone.now() - timedelta(days=2))
    again = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201
    assert again.json()["uuid"] != first["uuid"]
    assert TaskRecord.objects.get(uuid=first["uuid"]).idempotency_key == ""
    assert post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1").json() == again.json()


@pytest.mark.django_db(transaction=True)
@override_settings(TASK_API_MAX_RUNNING_PER_USER=1)
def test_a_repeat_at_the_limit_answers_the_first_task(api: APIClient, alice: Any) -> None:
    first = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    record_for(alice, status=TaskStatus.RUNNING)  # the limit is reached
    repeat = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k1")
    other = post(api, "add", {"a": 1}, HTTP_IDEMPOTENCY_KEY="k2")
    assert (first.status_code, repeat.status_code, other.status_code) == (201, 200, 429)
    assert repeat.json()["uuid"] == first.json()["uuid"]


@pytest.mark.django_db(transaction=True)
def test_a_repeat_inside_a_transaction_leaves_it_usable(alice: Any) -> None:
    owner = {"owner": alice}
    with transaction.atomic():
        first, created = start_task(Add, {"a": 1}, owner=owner, idempotency_key="k1")
        repeat, repeated = start_task(Add, {"a": 1}, owner=owner, idempotency_key="k1")
        assert (created, repeated, repeat.pk) == (True, False, first.pk)
        assert TaskRecord.objects.filter(owner=alice).count() == 1  # still usable


@pytest.mark.django_db
@override_settings(TASK_API_MAX_RUNNING_PER_USER=2)
def test_too_many_unfinished_tasks_is_429(api: APIClient, alice: Any, bob: Any) -> None:
    record_for(alice, status=TaskStatus.SUCCEEDED)
    record_for(alice, status=TaskStatus.RUNNING)
    record_for(bob)
    assert post(api, "add", {"a": 1}).status_code == 201
    response = post(api, "add", {"a": 1})
    assert response.status_code == 429
    assert "2 unfinished tasks" in response.json()["detail"]
    assert TaskRecord.objects.filter(owner=alice).count() == 3


def _forget_connection_pools() -> None:
    # As Celery does after a fork: the pools are rebuilt from the conf on next use.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Celery sends for real, to a port where nothing listens."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.broker_url
    conf.task_always_eager, conf.broker_url = False, "redis://127.0.0.1:1/0"
    _forget_connection_pools()
    try:
        yield
    finally:
        conf.task_always_eager, conf.broker_url = saved
        _forget_connection_pools()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("broker_down")
def test_broker_down_is_503_and_leaves_no_record(api: APIClient) -> None:
    response = post(api, "add", {"a": 1})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("Could not reach the task broker: "), detail
    assert "127.0.0.1:1" in detail
    assert not TaskRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("broker_down")
def test_broker_down_after_commit_fails_the_task(alice: Any) -> None:
    with transaction.atomic():
        record, _ = start_task(Add, {"a": 1}, owner={"owner": alice, "session_key": ""})
    record.refresh_from_db()
    assert record.status == "failed"
    assert record.error["type"] == "BackendUnavailable"
