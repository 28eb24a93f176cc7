"""Every door that starts a task, through the same cases: the same outcome at each.

The doors: ``POST /tasks/``, the WebSocket ``start`` frame, ``POST /tasks/batches/``
(a batch of one), ``start_batch``, ``start_child`` (from a running task),
``Task.enqueue``, and the ``django.tasks`` backend's ``enqueue`` and ``aenqueue`` (Django 6,
or the ``django-tasks`` backport on 5.2). An outcome is a code of the one error vocabulary
(``task_api.api.errors``): REST answers its status, the WebSocket its code, and
Python raises the domain exception the vocabulary gives that code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from rest_framework.test import APIClient

from task_api import enqueued_by, signals
from task_api.api import errors
from task_api.batches import start_batch, start_child
from task_api.exceptions import (
    BackendUnavailable,
    BatchErrors,
    InputErrors,
    LimitReached,
    UnknownTask,
)
from task_api.functions import django_tasks_available
from task_api.models import TaskBatch, TaskRecord, TaskStatus
from task_api.tasks import Task
from tests.project.tasks import Add
from tests.test_api import broker_down  # noqa: F401 (fixture)
from tests.test_consumer import ORIGIN, connect, receive

pytestmark = pytest.mark.django_db(transaction=True)

DJANGO_TASKS = django_tasks_available()
STATUS = {"invalid": 400, "too_many_tasks": 429, "unavailable": 503}
#: What each kind of start is at a door that takes task names and JSON inputs.
STARTS = {"good": ("add", {"a": 1}), "bad": ("add", {"a": "x", "c": 1}), "unknown": ("nope", {})}
#: The exception a Python door raises for each code; batch doors raise BatchErrors when invalid.
RAISES = {"too_many_tasks": LimitReached, "unavailable": BackendUnavailable}


class Unregistered(Task):
    """A task class that no setting lists."""

    name = "unregistered"


@dataclass
class Outcome:
    """What a door answered: a started task (``code`` None) or a refusal's code."""

    code: str | None = None
    uuid: str | None = None
    created: bool = True
    raised: type[BaseException] | None = None


@dataclass
class World:
    """Alice, her session cookie, and her running task in a batch (``start_child``'s parent)."""

    alice: Any
    headers: list[tuple[bytes, bytes]]
    parent: TaskRecord
    seen: list[tuple[str, str, str]] = field(default_factory=list)


def _raised(exc: Exception) -> Outcome:
    refusal = errors.refusal(exc)
    assert refusal is not None, exc
    return Outcome(code=refusal.code, raised=type(exc))


def _python(call: Callable[[], Any]) -> Outcome:
    try:
        started = call()
    except (BackendUnavailable, BatchErrors, InputErrors, LimitReached, UnknownTask) as exc:
        return _raised(exc)
    if isinstance(started, TaskBatch):
        started = TaskRecord.objects.get(batch=started)
    return Outcome(uuid=str(getattr(started, "uuid", getattr(started, "id", ""))))


def _http(response: Any, uuid_of: Callable[[dict[str, Any]], str]) -> Outcome:
    if response.status_code in (200, 201):
        return Outcome(uuid=uuid_of(response.json()), created=response.status_code == 201)
    codes = {status: code for code, status in STATUS.items()}
    return Outcome(code=codes[response.status_code])


def _client(world: World) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.alice)
    return client


def rest(world: World, kind: str, key: str | None) -> Outcome:
    name, inputs = STARTS[kind]
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"task": name, "inputs": inputs}
    response = _client(world).post("/tasks/", body, format="json", **headers)
    return _http(response, lambda task: task["uuid"])


def websocket(world: World, kind: str, key: str | None) -> Outcome:
    name, inputs = STARTS[kind]
    frame = {"type": "start", "ref": "r", "task": name, "inputs": inputs}
    if key:
        frame["idempotency_key"] = key

    async def ask() -> dict[str, Any]:
        communicator = await connect(world.headers)
        await communicator.send_json_to(frame)
        answer = await receive(communicator)
        while answer["type"] not in ("started", "error"):  # the task's own events
            answer = await receive(communicator)
        await communicator.disconnect()
        return answer

    answer = async_to_sync(ask)()
    if answer["type"] == "error":
        assert answer["status"] == STATUS[answer["code"]]
        return Outcome(code=answer["code"])
    return Outcome(uuid=answer["uuid"], created=answer["created"])


def rest_batch(world: World, kind: str, key: str | None) -> Outcome:
    name, inputs = STARTS[kind]
    body = {"tasks": [{"task": name, "inputs": inputs}]}
    response = _client(world).post("/tasks/batches/", body, format="json")
    return _http(response, lambda batch: batch["tasks"][0])


def python_batch(world: World, kind: str, key: str | None) -> Outcome:
    name, inputs = STARTS[kind]
    return _python(lambda: start_batch([{"task": name, "inputs": inputs}], user=world.alice))


def child(world: World, kind: str, key: str | None) -> Outcome:
    name, inputs = STARTS[kind]
    parent: Any = SimpleNamespace(_reporter=SimpleNamespace(uuid=world.parent.uuid))
    return _python(lambda: start_child(parent, name, **inputs))


def task_enqueue(world: World, kind: str, key: str | None) -> Outcome:
    task_class: type[Task] = Unregistered if kind == "unknown" else Add
    return _python(lambda: task_class.enqueue(user=world.alice, **STARTS[kind][1]))


def _function_call(kind: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return ((2,), {}) if kind == "good" else (("many",), {"bogus": 1})


def django_enqueue(world: World, kind: str, key: str | None) -> Outcome:
    from tests.project import functions

    args, kwargs = _function_call(kind)
    with enqueued_by(world.alice):
        return _python(lambda: functions.count.enqueue(*args, **kwargs))


def django_aenqueue(world: World, kind: str, key: str | None) -> Outcome:
    from tests.project import functions

    args, kwargs = _function_call(kind)
    with enqueued_by(world.alice):
        return _python(lambda: async_to_sync(functions.count.aenqueue)(*args, **kwargs))


DOORS: dict[str, Callable[[World, str, str | None], Outcome]] = {
    "POST /tasks/": rest,
    "WebSocket start": websocket,
    "POST /tasks/batches/": rest_batch,
    "start_batch": python_batch,
    "start_child": child,
    "Task.enqueue": task_enqueue,
    "django.tasks enqueue": django_enqueue,
    "django.tasks aenqueue": django_aenqueue,
}
BATCH_DOORS = {"POST /tasks/batches/", "start_batch"}
FUNCTION_DOORS = {"django.tasks enqueue", "django.tasks aenqueue"}
KEYED_DOORS = {"POST /tasks/", "WebSocket start"}


def door_param(name: str) -> Any:
    marks = []
    if name in FUNCTION_DOORS and not DJANGO_TASKS:
        marks.append(pytest.mark.skip(reason="@task functions need Django 6 or django-tasks"))
    return pytest.param(name, marks=marks, id=name)


each_door = pytest.mark.parametrize("door", [door_param(name) for name in DOORS])


@pytest.fixture
def world(users: Any, session_cookie: Any) -> Iterator[World]:
    batch = TaskBatch.objects.create(owner=users.alice)
    parent = TaskRecord.objects.create(
        name="spawn", owner=users.alice, status=TaskStatus.RUNNING, batch=batch
    )
    headers = [ORIGIN, (b"cookie", session_cookie(users.alice).header.encode())]
    world = World(alice=users.alice, headers=headers, parent=parent)

    def receiver(name: str) -> Callable[..., None]:
        def record(sender: Any, record: TaskRecord, **kwargs: Any) -> None:
            world.seen.append((str(record.uuid), name, str(record.status)))

        return record

    receivers = [
        (signals.task_enqueued, receiver("enqueued")),
        (signals.task_started, receiver("started")),
        (signals.task_finished, receiver("finished")),
    ]
    if DJANGO_TASKS:
        from task_api.compat import signals as django_signals

        def forwarded(name: str) -> Callable[..., None]:
            def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
                world.seen.append((task_result.id, f"django {name}", str(task_result.status)))

            return record

        receivers += [
            (getattr(django_signals, f"task_{name}"), forwarded(name))
            for name in ("enqueued", "started", "finished")
        ]
    for signal, function in receivers:
        signal.connect(function)
    yield world
    for signal, function in receivers:
        signal.disconnect(function)


def signals_of(world: World, uuid: str | None) -> list[tuple[str, str]]:
    return [(name, status) for seen, name, status in world.seen if seen == uuid]


def expected_signals(door: str) -> list[tuple[str, str]]:
    """The eager engine runs the task inside the dispatch, before ``task_enqueued``; Django's
    signals come from receivers of ours connected when the app loads, so before the test's."""
    ours = [("started", "running"), ("finished", "succeeded"), ("enqueued", "succeeded")]
    if door not in FUNCTION_DOORS:
        return ours
    django_status = {"running": "RUNNING", "succeeded": "SUCCESSFUL"}
    return [
        pair
        for name, status in ours
        for pair in ((f"django {name}", django_status[status]), (name, status))
    ]


def counts() -> tuple[int, int]:
    return TaskRecord.objects.count(), TaskBatch.objects.count()


def assert_refused(door: str, outcome: Outcome, code: str, kind_error: type[Exception]) -> None:
    """``code`` at every door; at a Python door, ``kind_error`` (a batch's field errors are
    ``BatchErrors``)."""
    assert outcome.code == code, outcome
    if outcome.raised is not None:
        field_error = kind_error in (InputErrors, UnknownTask) and door in BATCH_DOORS
        assert outcome.raised is (BatchErrors if field_error else kind_error)


@each_door
def test_a_start_is_dispatched_then_signalled_in_order(door: str, world: World) -> None:
    outcome = DOORS[door](world, "good", None)
    assert (outcome.code, outcome.created) == (None, True)
    record = TaskRecord.objects.get(uuid=outcome.uuid)
    assert (record.owner_id, record.status) == (world.alice.pk, TaskStatus.SUCCEEDED)
    assert signals_of(world, outcome.uuid) == expected_signals(door)


@each_door
def test_the_limit_refuses_at_every_door(door: str, world: World, settings: Any) -> None:
    settings.TASK_API_MAX_RUNNING_PER_USER = 1  # the running parent is one
    before = counts()
    outcome = DOORS[door](world, "good", None)
    assert_refused(door, outcome, "too_many_tasks", LimitReached)
    assert counts() == before


@each_door
@pytest.mark.parametrize("kind", ["bad", "unknown"])
def test_bad_inputs_and_unknown_tasks_are_invalid(door: str, kind: str, world: World) -> None:
    if kind == "unknown" and door in FUNCTION_DOORS:
        pytest.skip("the django.tasks backend runs any @task function enqueued from code")
    before = counts()
    outcome = DOORS[door](world, kind, None)
    assert_refused(door, outcome, "invalid", InputErrors if kind == "bad" else UnknownTask)
    assert counts() == before
    assert world.seen == []


@each_door
@pytest.mark.usefixtures("broker_down")
def test_a_broker_that_is_down_leaves_nothing_behind(door: str, world: World) -> None:
    before = counts()
    outcome = DOORS[door](world, "good", None)
    assert_refused(door, outcome, "unavailable", BackendUnavailable)
    assert counts() == before
    assert world.seen == []


@each_door
def test_a_repeated_idempotency_key_answers_the_first_task(door: str, world: World) -> None:
    if door not in KEYED_DOORS:
        pytest.skip("no idempotency key at this door")
    first = DOORS[door](world, "good", "k-1")
    again = DOORS[door](world, "good", "k-1")
    assert (first.created, again.created, again.uuid) == (True, False, first.uuid)
    assert TaskRecord.objects.filter(idempotency_key="k-1").count() == 1
    assert signals_of(world, first.uuid) == expected_signals(door)  # once


@each_door
@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_inside_a_transaction_dispatch_and_signals_wait_for_the_commit(
    door: str, commit: bool, world: World
) -> None:
    if door == "WebSocket start":
        pytest.skip("a frame is handled on its own: no transaction of the caller spans it")
    before = counts()
    with contextlib.suppress(RuntimeError), transaction.atomic():
        outcome = DOORS[door](world, "good", None)
        assert TaskRecord.objects.get(uuid=outcome.uuid).status == TaskStatus.PENDING
        assert world.seen == []
        if not commit:
            raise RuntimeError("roll back")
    if commit:
        assert TaskRecord.objects.get(uuid=outcome.uuid).status == TaskStatus.SUCCEEDED
        assert signals_of(world, outcome.uuid) == expected_signals(door)
    else:
        assert counts() == before
        assert world.seen == []
