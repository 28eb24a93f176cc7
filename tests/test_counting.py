"""The per-user limit's count statement, against the ORM's answer."""

from __future__ import annotations

from typing import Any

import pytest

from task_api.models import TaskRecord, TaskStatus
from task_api.store.inserting import count_unfinished

pytestmark = pytest.mark.django_db


def test_counts_unfinished_tasks_of_the_owner_only_up_to_the_limit(
    django_user_model: Any,
) -> None:
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    for status in [*TaskStatus.values, TaskStatus.PENDING, TaskStatus.RUNNING]:
        TaskRecord.objects.create(owner=alice, name="add", status=status)
    TaskRecord.objects.create(owner=bob, name="add")
    TaskRecord.objects.create(owner=None, session_key="s1", name="add")
    TaskRecord.objects.create(owner=None, session_key="s1", name="add", status="succeeded")
    TaskRecord.objects.create(owner=None, session_key="s2", name="add", status="running")

    alice_fields = {"owner": alice, "session_key": ""}
    assert TaskRecord.objects.filter(**alice_fields).unfinished().count() == 4
    assert count_unfinished(alice_fields, 100) == 4
    assert count_unfinished({"owner": alice}, 100) == 4
    assert count_unfinished(alice_fields, 3) == 3  # stops at the limit
    assert count_unfinished({"owner": bob, "session_key": ""}, 100) == 1
    assert count_unfinished({"owner": None, "session_key": "s1"}, 100) == 1
    assert count_unfinished({"owner": None, "session_key": "s2"}, 100) == 1
    assert count_unfinished({"owner": None, "session_key": "s3"}, 100) == 0
