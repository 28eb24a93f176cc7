"""The start path's prepared INSERT and plain-body check, against the ORM and the serializer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import router
from django.db.models.signals import post_save
from django.utils import timezone

from task_api.api.serializers import TaskCreateSerializer, plain_start_body
from task_api.engine.service import start as start_task
from task_api.exceptions import LimitReached
from task_api.models import TaskRecord, TaskStatus
from task_api.store.inserting import can_insert, insert, insert_record
from tests.project.tasks import Add

ALIAS = "default"


def _stored(record: TaskRecord) -> dict[str, Any]:
    row = TaskRecord.objects.filter(pk=record.pk).values().get()
    return {key: value for key, value in row.items() if key not in {"id", "uuid"}}


@pytest.mark.django_db
def test_the_prepared_insert_stores_what_the_orm_stores(django_user_model: Any) -> None:
    alice = django_user_model.objects.create_user("alice")
    fields: dict[str, Any] = {
        "name": "add",
        "inputs": {"a": [1, "é", None, {"b": 2.5}]},
        "owner": alice,
        "session_key": "",
        "idempotency_key": "key",
        "run_after": timezone.now() + timedelta(hours=1),
        "created": timezone.now(),
    }
    by_orm = TaskRecord.objects.create(**{**fields, "idempotency_key": "other"})
    prepared = TaskRecord(**fields)
    assert can_insert(ALIAS)
    assert insert_record(prepared, ALIAS, limit=None, owner={})
    assert prepared.pk is not None
    assert not prepared._state.adding
    assert _stored(prepared) == {**_stored(by_orm), "idempotency_key": "key"}
    assert TaskRecord.objects.get(pk=prepared.pk).uuid == prepared.uuid


@pytest.mark.django_db
@pytest.mark.parametrize("session", [False, True])
def test_the_prepared_insert_stops_at_the_owners_limit(
    django_user_model: Any, session: bool
) -> None:
    alice = django_user_model.objects.create_user("alice")
    owner = {"owner": None, "session_key": "s1"} if session else {"owner": alice, "session_key": ""}
    for status in [TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]:
        TaskRecord.objects.create(name="add", status=status, **owner)
    TaskRecord.objects.create(name="add", owner=None, session_key="s2")  # someone else's
    before = TaskRecord.objects.count()
    assert not insert_record(TaskRecord(name="add", **owner), ALIAS, limit=2, owner=owner)
    assert TaskRecord.objects.count() == before
    assert insert_record(TaskRecord(name="add", **owner), ALIAS, limit=3, owner=owner)
    assert TaskRecord.objects.filter(**owner).unfinished().count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("fits", [True, False])
def test_a_batch_too_large_for_one_statement_is_inserted_whole_or_not_at_all(
    django_user_model: Any, monkeypatch: pytest.MonkeyPatch, fits: bool
) -> None:
    from django.db import connection

    # SQLite: three rows per statement, so ten take four in one transaction (PostgreSQL: one).
    columns = len([f for f in TaskRecord._meta.local_concrete_fields if not f.primary_key])
    features = type(connection.features)
    monkeypatch.setattr(features, "max_query_params", property(lambda _: 3 * columns + 8))
    alice = django_user_model.objects.create_user("alice")
    owner = {"owner": alice, "session_key": ""}
    TaskRecord.objects.create(name="add", **owner)
    records = [TaskRecord(name="add", inputs={"n": n}, **owner) for n in range(10)]
    assert insert(records, owner=owner, limit=11 if fits else 10) is fits
    assert TaskRecord.objects.filter(**owner).count() == (11 if fits else 1)
    if fits:  # each record got its own row's id
        stored = {r.pk: r.inputs["n"] for r in TaskRecord.objects.filter(inputs__has_key="n")}
        assert stored == {record.pk: n for n, record in enumerate(records)}


@pytest.fixture
def save_receiver() -> Iterator[list[bool]]:
    created: list[bool] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        created.append(kwargs["created"])

    post_save.connect(receiver, sender=TaskRecord)
    try:
        yield created
    finally:
        post_save.disconnect(receiver, sender=TaskRecord)


@pytest.mark.django_db
def test_save_signal_receivers_still_see_started_tasks(
    django_user_model: Any, save_receiver: list[bool], settings: Any
) -> None:
    settings.TASK_API_MAX_RUNNING_PER_USER = 1
    alice = django_user_model.objects.create_user("alice")
    owner = {"owner": alice, "session_key": ""}
    assert not can_insert(router.db_for_write(TaskRecord))
    start_task(Add, {"a": 1}, owner=owner)
    TaskRecord.objects.filter(owner=alice).update(status=TaskStatus.PENDING)
    with pytest.raises(LimitReached):
        start_task(Add, {"a": 2}, owner=owner)
    assert save_receiver[:1] == [True]
    assert TaskRecord.objects.filter(owner=alice).count() == 1


BODIES: list[Any] = [
    {"task": "add", "inputs": {"a": 1}},
    {"task": "add"},
    {"task": "add", "inputs": {}, "extra": 1},
    {"task": " add"},
    {"task": "add\n"},
    {"task": ""},
    {"task": "   "},
    {"task": "a" * 200},
    {"task": "a" * 201},
    {"task": "a\x00b"},
    {"task": "a\ud800"},
    {"task": 5},
    {"task": True},
    {"task": None},
    {"task": ["add"]},
    {"task": "add", "inputs": None},
    {"task": "add", "inputs": [1]},
    {},
    [],
]


@pytest.mark.parametrize("body", BODIES)
def test_a_plain_body_is_one_the_serializer_takes_as_is(body: Any) -> None:
    plain = plain_start_body(body)
    if plain is not None:
        serializer = TaskCreateSerializer(data=body)
        assert serializer.is_valid(), serializer.errors
        assert plain == (serializer.validated_data["task"], serializer.validated_data["inputs"])


def test_plain_bodies_skip_the_serializer() -> None:
    assert plain_start_body({"task": "add", "inputs": {"a": 1}}) == ("add", {"a": 1})
    assert plain_start_body({"task": "add"}) == ("add", {})
    assert plain_start_body({"task": " add"}) is None
