"""``task_api.enqueued_by``: who owns a task started from code."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from rest_framework.test import APIClient

import task_api
from tests.project.tasks import Add

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_started_in_the_block_belongs_to_the_user(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("owner")
    with task_api.enqueued_by(user):
        record = Add.enqueue(a=1)
    assert record.owner == user
    outside = Add.enqueue(a=1)
    assert outside.owner is None
    assert outside.session_key == ""


def test_a_request_of_an_anonymous_visitor_gives_the_task_to_its_session() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    with task_api.enqueued_by(request):
        record = Add.enqueue(a=2)
    assert record.owner is None
    assert record.session_key
    assert record.session_key == request.session.session_key


def test_another_user_cannot_read_or_cancel_it(django_user_model: Any) -> None:
    owner = django_user_model.objects.create_user("first")
    with task_api.enqueued_by(owner):
        record = Add.enqueue(a=3)
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user("second"))
    assert other.get(f"/tasks/{record.uuid}/").status_code == 404
    assert other.post(f"/tasks/{record.uuid}/cancel/").status_code == 404
    mine = APIClient()
    mine.force_authenticate(owner)
    assert mine.get(f"/tasks/{record.uuid}/").json()["outputs"] == {"sum": 4}
