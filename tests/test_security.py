"""Who may start, read, list and cancel tasks: authentication, permissions, ownership, CSRF."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import override_settings
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.test import APIClient

from task_api.models import TaskRecord

pytestmark = pytest.mark.django_db

PASSWORD = "pw-secret-1"
ANYONE = {"TASK_API_PERMISSIONS_CLASSES": ["rest_framework.permissions.AllowAny"]}
START = {"task": "echo", "inputs": {"value": {"secret": 1}}}


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True)


def logged_in(user: Any, **kwargs: Any) -> APIClient:
    client = APIClient(**kwargs)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def basic(user: Any) -> dict[str, str]:
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def start(client: APIClient, **extra: Any) -> Any:
    return client.post("/tasks/", START, format="json", **extra)


def a_task_of(user: Any) -> TaskRecord:
    return TaskRecord.objects.create(name="echo", owner=user, status="succeeded")


# -- defaults: DRF's global settings -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/tasks/"),
        ("post", "/tasks/"),
        ("get", "/tasks/catalog/"),
        ("get", "/tasks/schema/?format=json"),
        ("get", "/tasks/{uuid}/"),
        ("post", "/tasks/{uuid}/cancel/"),
    ],
)
def test_anonymous_is_refused_by_default(alice: Any, method: str, path: str) -> None:
    record = TaskRecord.objects.create(name="echo", owner=alice)
    url = path.format(uuid=record.uuid)
    response = getattr(APIClient(), method)(url, START if method == "post" else None, format="json")
    assert response.status_code in (401, 403)
    assert "detail" in json.loads(response.content)
    assert TaskRecord.objects.count() == 1
    assert TaskRecord.objects.get().status == "pending"


def test_the_global_drf_settings_are_read_per_request(alice: Any) -> None:
    rest = {**settings.REST_FRAMEWORK}
    # Basic authentication first: DRF answers 401 with a challenge instead of 403.
    rest["DEFAULT_AUTHENTICATION_CLASSES"] = ["rest_framework.authentication.BasicAuthentication"]
    with override_settings(REST_FRAMEWORK=rest):
        response = APIClient().get("/tasks/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic")
        assert APIClient().get("/tasks/", **basic(alice)).status_code == 200
    rest["DEFAULT_PERMISSION_CLASSES"] = ["rest_framework.permissions.AllowAny"]
    with override_settings(REST_FRAMEWORK=rest):
        assert APIClient().get("/tasks/").status_code == 200
    assert APIClient().get("/tasks/").status_code == 403


# -- TASK_API_* settings override DRF's ---------------------------------------------------------


@pytest.mark.parametrize(
    "permissions",
    [["rest_framework.permissions.AllowAny"], [AllowAny]],
    ids=["dotted", "class"],
)
def test_permission_classes_setting(permissions: list[Any]) -> None:
    with override_settings(TASK_API_PERMISSIONS_CLASSES=permissions):
        assert start(APIClient()).status_code == 201
    assert start(APIClient()).status_code == 403


@pytest.mark.parametrize(
    "permissions",
    [["rest_framework.permissions.IsAdminUser"], [IsAdminUser]],
    ids=["dotted", "class"],
)
def test_permission_classes_can_be_stricter(alice: Any, staff: Any, permissions: list[Any]) -> None:
    with override_settings(TASK_API_PERMISSIONS_CLASSES=permissions):
        assert logged_in(alice).get("/tasks/").status_code == 403
        assert logged_in(staff).get("/tasks/").status_code == 200
    assert logged_in(alice).get("/tasks/").status_code == 200


def test_the_singular_permission_setting_name_is_read_too() -> None:
    with override_settings(TASK_API_PERMISSION_CLASSES=[AllowAny]):
        assert APIClient().get("/tasks/").status_code == 200


@pytest.mark.parametrize(
    "authentication",
    [["rest_framework.authentication.BasicAuthentication"], [BasicAuthentication]],
    ids=["dotted", "class"],
)
def test_authentication_classes_setting(alice: Any, authentication: list[Any]) -> None:
    with override_settings(TASK_API_AUTHENTICATION_CLASSES=authentication):
        # The session no longer counts; basic authentication does.
        assert logged_in(alice).get("/tasks/").status_code == 401
        assert APIClient().get("/tasks/", **basic(alice)).status_code == 200
    assert logged_in(alice).get("/tasks/").status_code == 200


def test_no_authentication_at_all_means_anonymous(alice: Any) -> None:
    with override_settings(TASK_API_AUTHENTICATION_CLASSES=[]):
        assert logged_in(alice).get("/tasks/").status_code == 403
    with override_settings(TASK_API_AUTHENTICATION_CLASSES=[SessionAuthentication]):
        assert logged_in(alice).get("/tasks/").status_code == 200


# -- ownership --------------------------------------------------------------------------------


def test_another_user_cannot_read_list_or_cancel_a_task(alice: Any, bob: Any) -> None:
    record = TaskRecord.objects.create(name="sleep", owner=alice, status="running", attempt=1)
    as_bob = logged_in(bob)
    assert as_bob.get(f"/tasks/{record.uuid}/").status_code == 404
    assert as_bob.get("/tasks/").json()["count"] == 0
    assert as_bob.get("/tasks/?task=sleep&status=running").json()["count"] == 0
    assert as_bob.post(f"/tasks/{record.uuid}/cancel/").status_code == 404
    record.refresh_from_db()
    assert (record.status, record.cancel_requested) == ("running", False)
    as_alice = logged_in(alice)
    assert as_alice.get(f"/tasks/{record.uuid}/").status_code == 200
    assert as_alice.get("/tasks/").json()["count"] == 1


def test_a_task_belongs_to_the_user_who_started_it(alice: Any, bob: Any) -> None:
    response = start(logged_in(alice))
    assert response.status_code == 201
    record = TaskRecord.objects.get(uuid=response.json()["uuid"])
    assert (record.owner, record.session_key) == (alice, "")
    assert logged_in(bob).get(f"/tasks/{record.uuid}/").status_code == 404


def test_staff_can_read_others_tasks_but_list_their_own(alice: Any, staff: Any) -> None:
    record = a_task_of(alice)
    own = a_task_of(staff)
    as_staff = logged_in(staff)
    assert as_staff.get(f"/tasks/{record.uuid}/").json()["uuid"] == str(record.uuid)
    assert [t["uuid"] for t in as_staff.get("/tasks/").json()["results"]] == [str(own.uuid)]


def test_ownerless_tasks_are_for_staff_only(alice: Any, staff: Any) -> None:
    record = TaskRecord.objects.create(name="echo")
    assert logged_in(alice).get(f"/tasks/{record.uuid}/").status_code == 404
    with override_settings(**ANYONE):
        assert APIClient().get(f"/tasks/{record.uuid}/").status_code == 404
    assert logged_in(staff).get(f"/tasks/{record.uuid}/").status_code == 200


@override_settings(**ANYONE)
def test_anonymous_tasks_belong_to_the_session(alice: Any, staff: Any) -> None:
    visitor, stranger = APIClient(), APIClient()
    response = start(visitor)
    assert response.status_code == 201
    uuid = response.json()["uuid"]
    record = TaskRecord.objects.get(uuid=uuid)
    assert record.owner is None
    assert record.session_key == visitor.cookies[settings.SESSION_COOKIE_NAME].value
    assert visitor.get(f"/tasks/{uuid}/").status_code == 200
    assert [t["uuid"] for t in visitor.get("/tasks/").json()["results"]] == [uuid]
    assert stranger.get(f"/tasks/{uuid}/").status_code == 404
    assert stranger.get("/tasks/").json()["count"] == 0
    assert stranger.post(f"/tasks/{uuid}/cancel/").status_code == 404
    assert logged_in(alice).get(f"/tasks/{uuid}/").status_code == 404
    assert logged_in(staff).get(f"/tasks/{uuid}/").status_code == 200
    # A second task of the same visitor lands in the same session.
    second = start(visitor).json()["uuid"]
    assert TaskRecord.objects.get(uuid=second).session_key == record.session_key


@override_settings(**ANYONE)
def test_anonymous_without_a_session_sees_nothing(alice: Any) -> None:
    a_task_of(alice)
    TaskRecord.objects.create(name="echo", session_key="")
    assert APIClient().get("/tasks/").json()["count"] == 0


# -- CSRF under session authentication ------------------------------------------------------


def test_csrf_is_enforced_under_session_authentication(alice: Any) -> None:
    client = logged_in(alice, enforce_csrf_checks=True)
    refused = start(client)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not TaskRecord.objects.exists()
    request = HttpRequest()
    get_token(request)
    token = request.META["CSRF_COOKIE"]
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    assert start(client, HTTP_X_CSRFTOKEN="wrong" * 6 + "ab").status_code == 403
    accepted = start(client, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
    uuid = accepted.json()["uuid"]
    assert client.post(f"/tasks/{uuid}/cancel/").status_code == 403
    assert client.post(f"/tasks/{uuid}/cancel/", HTTP_X_CSRFTOKEN=token).status_code == 202
    # Reading needs no token.
    assert client.get(f"/tasks/{uuid}/").status_code == 200


def test_basic_authentication_needs_no_csrf_token(alice: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert start(client, **basic(alice)).status_code == 201
