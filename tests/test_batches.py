"""Batches over REST and from Python, with the eager Celery backend of the test settings."""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from task_api.batches import BatchErrors, BatchTooLarge, NotInBatch, start_batch, start_child
from task_api.models import TaskBatch, TaskRecord
from tests.project.batch_tasks import Spawn
from tests.project.tasks import Add

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_batch(api: APIClient, tasks: Any) -> Any:
    return api.post("/tasks/batches/", {"tasks": tasks}, format="json")


def run_batch(api: APIClient, capture: Capture, tasks: Any) -> dict[str, Any]:
    with capture(execute=True):
        response = post_batch(api, tasks)
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_mixed_outcomes_end_with_exact_counts_and_sums(api: APIClient, capture: Capture) -> None:
    started = run_batch(
        api,
        capture,
        [
            *({"task": "countdown", "inputs": {"count": n}} for n in (3, 4, 5)),
            {"task": "add", "inputs": {"a": 1, "b": 2}},
            {"task": "fail", "inputs": {"reason": "disk full"}},
            {"task": "fail"},
        ],
    )
    assert started["total"] == 6
    assert len(started["tasks"]) == 6
    batch = api.get(f"/tasks/batches/{started['uuid']}/").json()
    assert batch["counts"] == {
        "pending": 0,
        "running": 0,
        "succeeded": 4,
        "failed": 2,
        "cancelled": 0,
    }
    assert batch["status"] == "failed"
    assert batch["tasks"] == started["tasks"]
    tasks = [api.get(f"/tasks/{uuid}/").json() for uuid in batch["tasks"]]
    assert [task["task"] for task in tasks] == ["countdown"] * 3 + ["add", "fail", "fail"]
    assert batch["progress"] == sum(t["progress"] for t in tasks if t["progress"] is not None) == 12
    assert batch["target"] == sum(t["target"] for t in tasks if t["target"] is not None) == 12
    assert batch["finished"] == max(task["finished"] for task in tasks)
    assert batch["seq"] == sum(task["seq"] for task in tasks) + 6


def test_all_succeeded_is_succeeded(api: APIClient, capture: Capture) -> None:
    started = run_batch(api, capture, [{"task": "add", "inputs": {"a": n}} for n in range(3)])
    batch = api.get(f"/tasks/batches/{started['uuid']}/").json()
    assert batch["status"] == "succeeded"
    assert batch["counts"]["succeeded"] == 3
    assert batch["progress"] is None
    assert batch["target"] is None
    assert batch["finished"] is not None


def test_a_pending_batch_is_pending_with_no_finish(api: APIClient) -> None:
    response = post_batch(api, [{"task": "add", "inputs": {"a": 1}}])  # not yet committed
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["finished"], body["counts"]["pending"]) == ("pending", None, 1)
    assert response["Location"].endswith(f"/tasks/batches/{body['uuid']}/")


def test_every_bad_item_is_named_and_nothing_starts(api: APIClient) -> None:
    response = post_batch(
        api,
        [
            {"task": "add", "inputs": {"a": 1}},
            {"task": "nope"},
            {"task": "add", "inputs": {"a": "x", "c": 1}},
            "add",
            {"task": "add", "inputs": {"a": 1}, "extra": True},
            {"inputs": []},
        ],
    )
    assert response.status_code == 400
    errors = response.json()["tasks"]
    assert sorted(errors) == ["1", "2", "3", "4", "5"]
    assert "Unknown task 'nope'" in errors["1"]["task"][0]
    assert set(errors["2"]["inputs"]) == {"a", "c"}
    assert errors["3"] == {"non_field_errors": ["Expected an object with 'task' and 'inputs'."]}
    assert errors["4"] == {"extra": ["Unexpected field 'extra'; items have 'task' and 'inputs'."]}
    assert errors["5"] == {
        "task": ["This field is required."],
        "inputs": ["Expected an object of inputs; got list."],
    }
    assert TaskRecord.objects.count() == 0
    assert TaskBatch.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"tasks": []}, "tasks", "A batch needs at least one task."),
        ({"tasks": {"task": "add"}}, "tasks", "Expected a list of"),
        ({}, "tasks", "This field is required."),
        ({"tasks": [], "more": 1}, "non_field_errors", "Expected a JSON object"),
        ([], "non_field_errors", "Expected a JSON object"),
    ],
)
def test_malformed_bodies_are_400(api: APIClient, body: Any, field: str, message: str) -> None:
    response = api.post("/tasks/batches/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field][0].startswith(message)


@override_settings(TASK_API_MAX_BATCH_SIZE=3)
def test_an_over_large_batch_is_413_and_starts_nothing(api: APIClient) -> None:
    response = post_batch(api, [{"task": "add", "inputs": {"a": 1}}] * 4)
    assert response.status_code == 413
    assert response.json() == {"detail": "A batch holds at most 3 tasks; got 4."}
    assert TaskRecord.objects.count() == 0


@override_settings(TASK_API_MAX_RUNNING_PER_USER=5)
def test_the_unfinished_limit_counts_the_whole_batch(api: APIClient, alice: Any) -> None:
    for _ in range(3):
        TaskRecord.objects.create(owner=alice, name="add")
    response = post_batch(api, [{"task": "add", "inputs": {"a": 1}}] * 3)
    assert response.status_code == 429
    assert "a batch of 3 would exceed that" in response.json()["detail"]
    assert TaskRecord.objects.count() == 3
    assert TaskBatch.objects.count() == 0
    assert post_batch(api, [{"task": "add", "inputs": {"a": 1}}] * 2).status_code == 201


def test_another_user_cannot_read_or_cancel(
    api: APIClient, django_user_model: Any, capture: Capture
) -> None:
    batch = post_batch(api, [{"task": "add", "inputs": {"a": 1}}]).json()
    bob = client_for(django_user_model.objects.create_user("bob"))
    assert bob.get(f"/tasks/batches/{batch['uuid']}/").status_code == 404
    assert bob.post(f"/tasks/batches/{batch['uuid']}/cancel/").status_code == 404
    assert TaskRecord.objects.get().status == "pending"
    staff = client_for(django_user_model.objects.create_user("root", is_staff=True))
    assert staff.get(f"/tasks/batches/{batch['uuid']}/").json()["tasks"] == batch["tasks"]
    assert APIClient().get(f"/tasks/batches/{batch['uuid']}/").status_code in (401, 403)


def test_cancel_cancels_unfinished_tasks(api: APIClient, capture: Capture) -> None:
    done = run_batch(api, capture, [{"task": "add", "inputs": {"a": 1}}])
    assert api.post(f"/tasks/batches/{done['uuid']}/cancel/").status_code == 409
    batch = post_batch(api, [{"task": "add", "inputs": {"a": n}} for n in range(4)]).json()
    running = TaskRecord.objects.get(uuid=batch["tasks"][0])
    TaskRecord.objects.filter(pk=running.pk).update(status="running")
    response = api.post(f"/tasks/batches/{batch['uuid']}/cancel/")
    assert response.status_code == 202
    body = response.json()
    assert body["counts"] == {
        "pending": 0,
        "running": 1,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 3,
    }
    assert body["status"] == "running"
    running.refresh_from_db()
    assert running.cancel_requested


def test_unknown_batch_is_404(api: APIClient) -> None:
    response = api.get("/tasks/batches/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No batch '00000000-0000-0000-0000-000000000000'."}


def test_start_batch_from_python(alice: Any, capture: Capture) -> None:
    with capture(execute=True):
        batch = start_batch(
            [{"task": Add, "inputs": {"a": 2}}, {"task": "countdown", "inputs": {"count": 2}}],
            user=alice,
        )
    records = list(TaskRecord.objects.filter(batch=batch).order_by("id"))
    assert [(r.name, r.status, r.owner_id) for r in records] == [
        ("add", "succeeded", alice.pk),
        ("countdown", "succeeded", alice.pk),
    ]
    assert batch.owner == alice
    with pytest.raises(BatchErrors) as raised:
        start_batch([{"task": Add, "inputs": {"a": "x"}}, {"task": Spawn, "inputs": {}}])
    assert set(raised.value.errors) == {"0", "1"}
    with override_settings(TASK_API_MAX_BATCH_SIZE=1), pytest.raises(BatchTooLarge):
        start_batch([{"task": Add, "inputs": {"a": 1}}] * 2)
    assert TaskRecord.objects.count() == 2


def test_a_running_task_starts_children_into_its_batch(api: APIClient, capture: Capture) -> None:
    started = run_batch(api, capture, [{"task": "spawn", "inputs": {"count": 3}}])
    batch = api.get(f"/tasks/batches/{started['uuid']}/").json()
    assert batch["total"] == 4
    assert batch["tasks"][0] == started["tasks"][0]
    assert batch["status"] == "succeeded"
    assert batch["progress"] == batch["target"] == 1 + 2 + 3
    owners = set(TaskRecord.objects.values_list("owner__username", flat=True))
    assert owners == {"alice"}


def test_start_child_outside_a_batch_is_refused() -> None:
    with pytest.raises(NotInBatch):
        start_child(Spawn(), "add", a=1)


def test_batches_are_in_the_openapi_document(api: APIClient) -> None:
    paths = api.get("/tasks/schema/?format=json").json()["paths"]
    assert set(paths["/tasks/batches/"]) >= {"post"}
    assert "413" in paths["/tasks/batches/"]["post"]["responses"]
    assert "get" in paths["/tasks/batches/{uuid}/"]
    assert "post" in paths["/tasks/batches/{uuid}/cancel/"]


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Capture) -> Capture:
    return django_capture_on_commit_callbacks


def test_the_task_list_filters_by_batch(api: APIClient, capture: Capture) -> None:
    batch = run_batch(api, capture, [{"task": "add", "inputs": {"a": n}} for n in range(3)])
    run_batch(api, capture, [{"task": "add", "inputs": {"a": 9}}])
    listed = api.get(f"/tasks/?batch={batch['uuid']}").json()["results"]
    assert sorted(task["uuid"] for task in listed) == sorted(batch["tasks"])
    assert sorted(task["outputs"]["sum"] for task in listed) == [1, 2, 3]
    response = api.get("/tasks/?batch=nope")
    assert response.status_code == 400
    assert response.json() == {"batch": ["'nope' is not a uuid."]}


def test_purging_removes_a_batch_with_its_last_task(api: APIClient, capture: Capture) -> None:
    from task_api.engine.retention import purge_finished

    batch = run_batch(api, capture, [{"task": "add", "inputs": {"a": n}} for n in range(2)])
    keep = post_batch(api, [{"task": "add", "inputs": {"a": 1}}]).json()  # still pending
    TaskBatch.objects.update(created=timezone.now() - timedelta(days=30))
    TaskRecord.objects.filter(status="succeeded").update(
        finished=timezone.now() - timedelta(days=30)
    )
    assert purge_finished(3600) == (2, 0)
    assert list(TaskBatch.objects.values_list("uuid", flat=True)) == [uuid_lib.UUID(keep["uuid"])]
    assert api.get(f"/tasks/batches/{batch['uuid']}/").status_code == 404


def test_the_admin_lists_batches_with_their_task_count(
    admin_client: Any, alice: Any, capture: Capture
) -> None:
    with capture(execute=True):
        batch = start_batch([{"task": Add, "inputs": {"a": n}} for n in range(3)], user=alice)
    page = admin_client.get("/admin/task_api/taskbatch/")
    assert page.status_code == 200
    assert str(batch.uuid) in page.content.decode()
    detail = admin_client.get(f"/admin/task_api/taskbatch/{batch.pk}/change/")
    assert detail.status_code == 200
    assert admin_client.get("/admin/task_api/taskbatch/add/").status_code == 403


@override_settings(TASK_API_MAX_RUNNING_PER_USER=1)
def test_children_count_against_the_per_user_limit(api: APIClient, capture: Capture) -> None:
    started = run_batch(api, capture, [{"task": "spawn", "inputs": {"count": 1}}])
    batch = api.get(f"/tasks/batches/{started['uuid']}/").json()
    assert batch["total"] == 1
    spawn = api.get(f"/tasks/{started['tasks'][0]}/").json()
    assert spawn["status"] == "failed"
    assert spawn["error"]["type"] == "LimitReached"


@override_settings(TASK_API_MAX_BATCH_SIZE=3)
def test_children_count_against_the_batch_size(api: APIClient, capture: Capture) -> None:
    started = run_batch(api, capture, [{"task": "spawn", "inputs": {"count": 3}}])
    batch = api.get(f"/tasks/batches/{started['uuid']}/").json()
    # Two children fit; the third fails the spawning task with a clear error.
    assert batch["total"] == 3
    spawn = api.get(f"/tasks/{started['tasks'][0]}/").json()
    assert spawn["status"] == "failed"
    assert spawn["error"] == {"type": "BatchTooLarge", "message": "A batch holds at most 3 tasks."}


def test_nul_characters_are_a_400_naming_the_input(api: APIClient) -> None:
    response = post_batch(
        api,
        [
            {"task": "messages", "inputs": {"lines": ["ok", "a\u0000b"]}},
            {"task": "echo", "inputs": {"value": {"k\u0000": 1}}},
            {"task": "add", "inputs": {"a": 1}},
        ],
    )
    assert response.status_code == 400
    nul = "holds a NUL character (\\u0000), which cannot be stored."
    assert response.json() == {
        "tasks": {
            "0": {"inputs": {"lines": {"1": [f"The value 'a\\x00b' {nul}"]}}},
            "1": {"inputs": {"value": [f"The name 'k\\x00' {nul}"]}},
        }
    }
    assert TaskRecord.objects.count() == 0
