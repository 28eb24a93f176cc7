"""The task record: unique indexed uuid, JSON columns, statuses, migrations, admin."""

from __future__ import annotations

import uuid as uuid_lib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from task_api.models import TERMINAL_STATUSES, TaskRecord, TaskStatus

TRACEBACK = 'Traceback (most recent call last):\n  File "job.py", line 3\nValueError: secret-detail'


def test_statuses_are_text_choices() -> None:
    assert issubclass(TaskStatus, models.TextChoices)
    assert TaskStatus.values == ["pending", "running", "succeeded", "failed", "cancelled"]
    assert set(TERMINAL_STATUSES) == {"succeeded", "failed", "cancelled"}
    assert TaskRecord._meta.get_field("status").choices == TaskStatus.choices


@pytest.mark.parametrize("field", ["inputs", "outputs", "messages", "error"])
def test_json_is_stored_in_json_fields(field: str) -> None:
    assert isinstance(TaskRecord._meta.get_field(field), models.JSONField)


def test_uuid_field_is_unique_and_not_editable() -> None:
    field = TaskRecord._meta.get_field("uuid")
    assert isinstance(field, models.UUIDField)
    assert field.unique
    assert not field.editable


@pytest.mark.django_db
def test_uuid_is_unique_and_indexed_in_the_database() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TaskRecord._meta.db_table)
    assert any(c["unique"] and c["columns"] == ["uuid"] for c in constraints.values())
    first = TaskRecord.objects.create(name="add")
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskRecord.objects.create(name="add", uuid=first.uuid)
    assert TaskRecord.objects.count() == 1


@pytest.mark.django_db
def test_json_round_trips_and_can_be_queried() -> None:
    value = {"nested": {"list": [1, 2.5, None, True, "é"]}, "n": 10**15}
    record = TaskRecord.objects.create(
        name="echo",
        inputs={"value": value},
        outputs={"value": value, "sum": 3},
        messages=[{"value": {"step": 1}, "level": "info", "time": "2026-01-01T00:00:00Z"}],
        error={"type": "ValueError", "message": "x"},
    )
    stored = TaskRecord.objects.get(pk=record.pk)
    assert stored.inputs == {"value": value}
    assert stored.messages[0]["value"] == {"step": 1}
    assert TaskRecord.objects.filter(outputs__sum=3).get() == record
    assert TaskRecord.objects.filter(error__type="ValueError").exists()
    assert TaskRecord.objects.filter(inputs__value__nested__list__1=2.5).exists()


@pytest.mark.django_db
def test_defaults_and_helpers() -> None:
    record = TaskRecord.objects.create(name="add")
    assert isinstance(record.uuid, uuid_lib.UUID)
    assert (record.status, record.inputs, record.outputs, record.messages) == (
        "pending",
        {},
        {},
        [],
    )
    assert (record.progress, record.target, record.error, record.seq) == (None, None, None, 0)
    assert not record.is_finished
    assert str(record) == f"add {record.uuid} (pending)"
    for status in TaskStatus.values:
        record.status = status
        assert record.is_finished == (status in TERMINAL_STATUSES)


@pytest.mark.django_db
def test_default_ordering_is_newest_first_and_unfinished_filter() -> None:
    now = timezone.now()
    old = TaskRecord.objects.create(name="a", created=now - timedelta(hours=1), status="failed")
    new = TaskRecord.objects.create(name="b", created=now, status="running")
    assert list(TaskRecord.objects.all()) == [new, old]
    assert list(TaskRecord.objects.unfinished()) == [new]


@pytest.mark.django_db
def test_migrations_match_the_models() -> None:
    call_command("makemigrations", "task_api", "--check", "--dry-run", verbosity=0)


# -- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def failed_task(django_user_model: Any) -> TaskRecord:
    owner = django_user_model.objects.create_user("alice")
    return TaskRecord.objects.create(
        name="fail",
        owner=owner,
        status=TaskStatus.FAILED,
        error={"type": "ValueError", "message": "secret-detail"},
        traceback=TRACEBACK,
        finished=timezone.now(),
    )


@pytest.fixture
def staff_client(django_user_model: Any, client: Any) -> Any:
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_taskrecord"))
    client.force_login(staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["staff_client", "admin_client"])
def test_admin_changelist_and_change_view(request: Any, failed_task: TaskRecord, who: str) -> None:
    client = request.getfixturevalue(who)
    changelist = client.get("/admin/task_api/taskrecord/")
    assert changelist.status_code == 200
    assert str(failed_task.uuid) in changelist.content.decode()
    search = client.get("/admin/task_api/taskrecord/", {"q": str(failed_task.uuid)})
    assert search.status_code == 200
    assert str(failed_task.uuid) in search.content.decode()
    filtered = client.get("/admin/task_api/taskrecord/", {"status__exact": "failed"})
    assert filtered.status_code == 200
    change = client.get(f"/admin/task_api/taskrecord/{failed_task.pk}/change/")
    assert change.status_code == 200
    assert "ValueError: secret-detail" in change.content.decode()


@pytest.mark.django_db
def test_admin_cannot_add_tasks(admin_client: Any) -> None:
    assert admin_client.get("/admin/task_api/taskrecord/add/").status_code == 403


@pytest.mark.django_db
def test_admin_needs_staff(client: Any, django_user_model: Any, failed_task: TaskRecord) -> None:
    client.force_login(django_user_model.objects.create_user("plain"))
    response = client.get(f"/admin/task_api/taskrecord/{failed_task.pk}/change/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_traceback_is_in_the_admin_only(failed_task: TaskRecord, django_user_model: Any) -> None:
    api = APIClient()
    api.force_authenticate(failed_task.owner)
    for path in (f"/tasks/{failed_task.uuid}/", "/tasks/"):
        response = api.get(path)
        assert response.status_code == 200
        assert b"secret-detail" in response.content  # the error message is shown
        assert b"Traceback" not in response.content
        assert b"job.py" not in response.content
    staff = django_user_model.objects.create_user("boss", is_staff=True)
    api.force_authenticate(staff)
    assert b"job.py" not in api.get(f"/tasks/{failed_task.uuid}/").content
