"""Share links: a token opens one task or one batch to whoever holds it, over REST and the
WebSocket, until it expires or is revoked; it opens nothing else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient

from task_api import links
from task_api.models import ShareLink, StreamBlock, TaskBatch, TaskRecord
from tests.project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob")


def client_of(user: Any = None, token: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    if token is not None:
        client.credentials(HTTP_X_SHARE_TOKEN=token)
    return client


def running_task(owner: Any, **fields: Any) -> TaskRecord:
    return TaskRecord.objects.create(name="echo", owner=owner, status="running", seq=1, **fields)


def test_the_owner_shares_a_task_that_a_visitor_then_reads(alice: Any) -> None:
    task, other = running_task(alice), running_task(alice)
    made = client_of(alice).post(f"/tasks/{task.uuid}/share/", {}, format="json")
    assert made.status_code == 201, made.content
    token = made.json()["token"]
    assert set(made.json()) == {"token", "expires", "can_cancel"}
    visitor = client_of(token=token)
    answer = visitor.get(f"/tasks/{task.uuid}/")
    assert answer.status_code == 200
    assert token not in answer.content.decode()
    assert visitor.get(f"/tasks/{task.uuid}/streams/answer/").status_code == 200
    assert visitor.get(f"?share={token}", {}).status_code == 404  # no such page
    assert client_of().get(f"/tasks/{task.uuid}/", {"share": token}).status_code == 200
    # It opens that task alone, and reading is all it allows.
    assert visitor.get(f"/tasks/{other.uuid}/").status_code == 404
    assert visitor.get("/tasks/").status_code == 403
    assert (
        visitor.post("/tasks/", {"task": "add", "inputs": {"a": 1}}, format="json").status_code
        == 403
    )
    assert visitor.post(f"/tasks/{task.uuid}/cancel/").status_code == 403
    assert visitor.post(f"/tasks/{task.uuid}/share/", {}, format="json").status_code == 403
    # Only its hash is stored.
    assert not ShareLink.objects.filter(digest=token).exists()
    assert token not in json.dumps(list(ShareLink.objects.values_list("digest", flat=True)))


def test_a_link_with_can_cancel_cancels(alice: Any) -> None:
    task = running_task(alice)
    token = links.share(task, can_cancel=True)
    assert client_of(token=token).post(f"/tasks/{task.uuid}/cancel/").status_code == 202
    assert TaskRecord.objects.get(pk=task.pk).cancel_requested


def test_a_batch_link_opens_the_batch_and_its_tasks_only(alice: Any) -> None:
    batch = TaskBatch.objects.create(owner=alice)
    inside, outside = running_task(alice, batch=batch), running_task(alice)
    token = client_of(alice).post(f"/tasks/batches/{batch.uuid}/share/").json()["token"]
    visitor = client_of(token=token)
    assert visitor.get(f"/tasks/batches/{batch.uuid}/").status_code == 200
    assert visitor.get(f"/tasks/{inside.uuid}/").status_code == 200
    assert visitor.get(f"/tasks/{outside.uuid}/").status_code == 404
    task_token = links.share(inside)
    assert client_of(token=task_token).get(f"/tasks/batches/{batch.uuid}/").status_code == 404


def test_only_who_may_cancel_it_makes_links(alice: Any, bob: Any) -> None:
    task = running_task(alice)
    assert client_of(bob).post(f"/tasks/{task.uuid}/share/").status_code == 404
    assert client_of().post(f"/tasks/{task.uuid}/share/").status_code == 403
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": -5}, "expires_in"),
        ({"expires_in": 10**9}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"can_cancel": "maybe"}, "can_cancel"),
    ],
)
def test_bad_share_requests_name_the_field(alice: Any, body: dict[str, Any], field: str) -> None:
    task = running_task(alice)
    answer = client_of(alice).post(f"/tasks/{task.uuid}/share/", body, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_expired_revoked_and_unknown_tokens_answer_with_their_code(alice: Any) -> None:
    task = running_task(alice)
    expired = links.share(task)
    ShareLink.objects.update(expires=timezone.now() - timedelta(seconds=1))
    revoked, kept = links.share(task), links.share(task)
    assert links.revoke(task, revoked) == 1
    for token, status, code in [
        (expired, 401, "share_expired"),
        (revoked, 403, "share_revoked"),
        ("share_" + "x" * 43, 401, "share_invalid"),
        ("not a token", 401, "share_invalid"),
        ("share_" + "x" * 500, 401, "share_invalid"),
    ]:
        answer = client_of(token=token).get(f"/tasks/{task.uuid}/")
        assert (answer.status_code, answer.json()["code"]) == (status, code), token
    assert client_of(token=kept).get(f"/tasks/{task.uuid}/").status_code == 200
    revoked_all = client_of(alice).post(f"/tasks/{task.uuid}/share/revoke/", {}, format="json")
    assert revoked_all.json() == {"revoked": 1}
    assert client_of(token=kept).get(f"/tasks/{task.uuid}/").json()["code"] == "share_revoked"


def test_links_go_with_their_task(alice: Any) -> None:
    task = running_task(alice)
    links.share(task)
    task.delete()
    assert not ShareLink.objects.exists()
    assert not StreamBlock.objects.exists()


async def watch(token: str, frame: dict[str, Any]) -> dict[str, Any]:
    communicator = WebsocketCommunicator(application, "/ws/tasks/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_json_to({**frame, "share": token})
        answer: dict[str, Any] = json.loads(await communicator.receive_from(timeout=10))
        return answer
    finally:
        await communicator.disconnect()


async def test_a_visitor_watches_a_shared_task_over_the_websocket(alice: Any) -> None:
    task = await sync_to_async(running_task)(alice, streams={"answer": 0})
    other = await sync_to_async(running_task)(alice)
    token = await sync_to_async(links.share)(task)
    snapshot = await watch(token, {"type": "subscribe", "uuid": str(task.uuid)})
    assert (snapshot["type"], snapshot["uuid"]) == ("snapshot", str(task.uuid))
    chunks = await watch(token, {"type": "subscribe", "uuid": str(task.uuid), "stream": "answer"})
    assert (chunks["type"], chunks["chunks"]) == ("chunks", [])
    refused = await watch(token, {"type": "subscribe", "uuid": str(other.uuid)})
    assert refused["code"] == "not_found"
    bad = await watch("share_nope", {"type": "subscribe", "uuid": str(task.uuid)})
    assert (bad["type"], bad["code"], bad["uuid"]) == ("error", "share_invalid", str(task.uuid))
    await sync_to_async(links.revoke)(task)
    gone = await watch(token, {"type": "subscribe", "uuid": str(task.uuid)})
    assert gone["code"] == "share_revoked"
