"""The access policy: one replaceable rule for REST, polling and WebSocket, tasks and batches."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db.models import Q, QuerySet
from rest_framework.test import APIClient

from task_api.engine.policy import AccessPolicy, Actor, OwnerOrStaff
from task_api.models import TaskBatch, TaskRecord
from tests.project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
TEAM_POLICY = "tests.test_policy.SameTeam"


class SameTeam(OwnerOrStaff):
    """Users whose names start with the same letter see, watch and cancel each other's work."""

    def visible(self, actor: Actor, objects: QuerySet[Any]) -> QuerySet[Any]:
        if not actor.is_authenticated:
            return super().visible(actor, objects)
        team = actor.user.username[0]
        return objects.filter(Q(owner__username__startswith=team))

    def can_see(self, actor: Actor, obj: Any) -> bool:
        if not actor.is_authenticated or obj.owner is None:
            return super().can_see(actor, obj)
        return bool(obj.owner.username[0] == actor.user.username[0])


class ReadOnly(OwnerOrStaff):
    """Owners see their tasks and batches but may not cancel them."""

    def can_cancel(self, actor: Actor, obj: Any) -> bool:
        return False


@pytest.fixture
def team(django_user_model: Any) -> dict[str, Any]:
    names = ("alice", "anna", "bob")
    return {name: django_user_model.objects.create_user(name) for name in names}


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def a_task_of(user: Any) -> TaskRecord:
    return TaskRecord.objects.create(name="echo", owner=user, status="running", seq=1)


def a_batch_of(user: Any) -> TaskBatch:
    batch = TaskBatch.objects.create(owner=user)
    TaskRecord.objects.create(name="echo", owner=user, status="running", seq=1, batch=batch)
    return batch


def test_the_default_is_owner_or_staff() -> None:
    from task_api.engine.policy import get_policy

    assert isinstance(get_policy(), OwnerOrStaff)


def test_rest_follows_a_site_policy(settings: Any, team: dict[str, Any]) -> None:
    task, batch = a_task_of(team["alice"]), a_batch_of(team["alice"])
    anna, bob = client_of(team["anna"]), client_of(team["bob"])
    assert anna.get(f"/tasks/{task.uuid}/").status_code == 404
    settings.TASK_API_ACCESS_POLICY = TEAM_POLICY
    assert anna.get(f"/tasks/{task.uuid}/").status_code == 200
    assert anna.get(f"/tasks/batches/{batch.uuid}/").status_code == 200
    assert bob.get(f"/tasks/{task.uuid}/").status_code == 404
    assert bob.get(f"/tasks/batches/{batch.uuid}/").status_code == 404
    # Lists still hold the caller's own tasks.
    assert anna.get("/tasks/").json()["results"] == []


async def watch(user: Any, frame: dict[str, Any]) -> dict[str, Any]:
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/tasks/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_to(text_data=json.dumps(frame))
        answer: dict[str, Any] = json.loads(await communicator.receive_from(timeout=10))
        return answer
    finally:
        await communicator.disconnect()


async def test_websocket_follows_the_same_policy(settings: Any, team: dict[str, Any]) -> None:
    task = await sync_to_async(a_task_of)(team["alice"])
    batch = await sync_to_async(a_batch_of)(team["alice"])
    by_task = {"type": "subscribe", "uuid": str(task.uuid)}
    by_batch = {"type": "subscribe", "batch": str(batch.uuid)}
    assert (await watch(team["anna"], by_task))["type"] == "error"
    assert (await watch(team["anna"], by_batch))["type"] == "error"
    settings.TASK_API_ACCESS_POLICY = TEAM_POLICY
    assert (await watch(team["anna"], by_task))["type"] == "snapshot"
    assert (await watch(team["anna"], by_batch))["type"] == "batch_snapshot"
    assert (await watch(team["bob"], by_task))["code"] == "not_found"
    assert (await watch(team["bob"], by_batch))["code"] == "not_found"


def test_a_policy_that_is_no_access_policy_is_a_configuration_error(settings: Any) -> None:
    from task_api.engine.policy import get_policy
    from task_api.exceptions import ConfigurationError

    settings.TASK_API_ACCESS_POLICY = "tests.test_policy.a_task_of"
    with pytest.raises(ConfigurationError, match="not an AccessPolicy"):
        get_policy()
    settings.TASK_API_ACCESS_POLICY = "tests.test_policy.Missing"
    with pytest.raises(ConfigurationError, match="Cannot import"):
        get_policy()


def test_the_base_class_decides_nothing_by_itself() -> None:
    with pytest.raises(NotImplementedError):
        AccessPolicy().can_see(Actor(), None)


def test_a_policy_that_overrides_can_see_is_asked_off_the_event_loop() -> None:
    assert OwnerOrStaff.in_memory
    assert not SameTeam.in_memory


def test_cancel_asks_the_policy(settings: Any, team: dict[str, Any]) -> None:
    task, batch = a_task_of(team["alice"]), a_batch_of(team["alice"])
    alice = client_of(team["alice"])
    settings.TASK_API_ACCESS_POLICY = "tests.test_policy.ReadOnly"
    refused = alice.post(f"/tasks/{task.uuid}/cancel/")
    assert refused.status_code == 403
    assert refused.json() == {"detail": f"You may not cancel task {str(task.uuid)!r}."}
    assert alice.post(f"/tasks/batches/{batch.uuid}/cancel/").status_code == 403
    assert not TaskRecord.objects.filter(cancel_requested=True).exists()
    settings.TASK_API_ACCESS_POLICY = "task_api.engine.policy.OwnerOrStaff"
    assert alice.post(f"/tasks/{task.uuid}/cancel/").status_code == 202


def test_readme_policy_snippet_widens_access_to_a_group(
    settings: Any, team: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.models import Group

    from tests.readme_snippets import load_snippet_module

    for name in ("readme_policies", "readme_policies.policies"):
        monkeypatch.setitem(sys.modules, name, None)  # removed again after the test
        del sys.modules[name]
    load_snippet_module("access-policy", "readme_policies.policies")
    group = Group.objects.create(name="team")
    group.user_set.add(team["alice"], team["anna"])
    task, batch = a_task_of(team["alice"]), a_batch_of(team["alice"])
    settings.TASK_API_ACCESS_POLICY = "readme_policies.policies.SameTeam"
    anna, bob = client_of(team["anna"]), client_of(team["bob"])
    assert anna.get(f"/tasks/{task.uuid}/").status_code == 200
    assert anna.get(f"/tasks/batches/{batch.uuid}/").status_code == 200
    assert anna.post(f"/tasks/{task.uuid}/cancel/").status_code == 202
    assert bob.get(f"/tasks/{task.uuid}/").status_code == 404
    assert async_to_sync(watch)(team["anna"], {"type": "subscribe", "uuid": str(task.uuid)})[
        "type"
    ] in ("snapshot", "update")


PERMISSIONS_POLICY = "task_api.engine.policy.DjangoPermissions"


class SharedWith:
    """An object-permission backend (as django-rules or django-guardian are): a task is
    viewable, and cancellable, by the user its inputs name in ``shared_with``."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def has_perm(self, user: Any, perm: str, obj: Any = None) -> bool:
        if not isinstance(obj, TaskRecord):
            return False
        shared = obj.inputs.get("shared_with") == user.username
        return shared and perm in ("task_api.view_taskrecord", "task_api.change_taskrecord")


def grant(user: Any, codename: str) -> Any:
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename=codename))
    return type(user).objects.get(pk=user.pk)  # without the cached permissions


def test_django_permissions_grant_view_and_change_on_the_model(
    settings: Any, team: dict[str, Any]
) -> None:
    settings.TASK_API_ACCESS_POLICY = PERMISSIONS_POLICY
    task, batch = a_task_of(team["alice"]), a_batch_of(team["alice"])
    assert client_of(team["bob"]).get(f"/tasks/{task.uuid}/").status_code == 404
    bob = grant(team["bob"], "view_taskrecord")
    assert client_of(bob).get(f"/tasks/{task.uuid}/").status_code == 200
    assert client_of(bob).get(f"/tasks/batches/{batch.uuid}/").status_code == 404
    assert client_of(bob).post(f"/tasks/{task.uuid}/cancel/").status_code == 403
    assert async_to_sync(watch)(bob, {"type": "subscribe", "uuid": str(task.uuid)})["type"] == (
        "snapshot"
    )
    bob = grant(bob, "change_taskrecord")
    assert client_of(bob).post(f"/tasks/{task.uuid}/cancel/").status_code == 202
    bob = grant(bob, "view_taskbatch")
    assert client_of(bob).get(f"/tasks/batches/{batch.uuid}/").status_code == 200
    # Staff are nobody special under this policy; owners keep their tasks.
    assert client_of(team["alice"]).get(f"/tasks/{task.uuid}/").status_code == 200
    assert client_of(team["anna"]).get("/tasks/").json()["results"] == []


def test_django_permissions_ask_object_permission_backends(
    settings: Any, team: dict[str, Any]
) -> None:
    settings.TASK_API_ACCESS_POLICY = PERMISSIONS_POLICY
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.test_policy.SharedWith",
    ]
    shared = TaskRecord.objects.create(
        name="echo", owner=team["alice"], status="running", seq=1, inputs={"shared_with": "bob"}
    )
    private = a_task_of(team["alice"])
    bob = client_of(team["bob"])
    assert bob.get(f"/tasks/{shared.uuid}/").status_code == 200
    assert bob.get(f"/tasks/{private.uuid}/").status_code == 404
    assert bob.post(f"/tasks/{private.uuid}/cancel/").status_code == 404
    assert bob.post(f"/tasks/{shared.uuid}/cancel/").status_code == 202
    by_ws = {"type": "subscribe", "uuid": str(shared.uuid)}
    assert async_to_sync(watch)(team["bob"], by_ws)["type"] == "snapshot"
    other = {"type": "subscribe", "uuid": str(private.uuid)}
    assert async_to_sync(watch)(team["bob"], other)["code"] == "not_found"
    assert async_to_sync(watch)(team["anna"], by_ws)["code"] == "not_found"
