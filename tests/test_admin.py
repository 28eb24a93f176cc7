"""The admin: live progress bars, filters, and actions that go through the engine, offered
by Django's model permissions (cancel and run again: ``change``, purge: ``delete``)."""

from __future__ import annotations

import time
import uuid as uuid_lib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone

from task_api import links, signals
from task_api.admin import live
from task_api.engine import service
from task_api.models import ShareLink, StreamBlock, TaskBatch, TaskRecord
from tests.readme_snippets import exec_snippet

pytestmark = pytest.mark.django_db

TASKS = "/admin/task_api/taskrecord/"
BATCHES = "/admin/task_api/taskbatch/"
TASK_ACTIONS = {"cancel_tasks", "run_again", "purge_finished", "revoke_share_links"}

# A project that routes the admin but not the API: ``ROOT_URLCONF = "tests.test_admin"``.
urlpatterns = [path("admin/", admin.site.urls)]


@pytest.fixture(autouse=True)
def inprocess(settings: Any) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def login(django_user_model: Any) -> Callable[..., Client]:
    """A client of a new staff user with the given permissions (codenames of task_api)."""

    def make(*codenames: str) -> Client:
        user = django_user_model.objects.create_user(f"staff-{uuid_lib.uuid4().hex}", is_staff=True)
        perms = Permission.objects.filter(
            content_type__app_label="task_api", codename__in=codenames
        )
        assert perms.count() == len(codenames)
        user.user_permissions.set(perms)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def viewer(login: Callable[..., Client]) -> Client:
    return login("view_taskrecord", "view_taskbatch")


@pytest.fixture
def operator(login: Callable[..., Client]) -> Client:
    return login("view_taskrecord", "change_taskrecord", "view_taskbatch", "change_taskbatch")


@pytest.fixture
def purger(login: Callable[..., Client]) -> Client:
    return login("view_taskrecord", "delete_taskrecord")


def task(owner: Any = None, **fields: Any) -> TaskRecord:
    fields = {"name": "countdown", "inputs": {"count": 10}, **fields}
    if fields.get("status") in ("succeeded", "failed", "cancelled"):
        fields.setdefault("finished", timezone.now())
    return TaskRecord.objects.create(owner=owner, **fields)


def offered(client: Client, url: str = TASKS) -> set[str]:
    """The names of the actions the list offers."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # None without any action
    return set() if form is None else {name for name, _ in form.fields["action"].choices if name}


def act(
    client: Client, action: str, objects: list[Any], url: str = TASKS, *, confirmed: bool = False
) -> list[str]:
    """Run ``action`` on ``objects`` from the list (``confirmed``: as its confirmation page
    posts it): the messages shown after it."""
    data = {"action": action, "index": 0, "_selected_action": [obj.pk for obj in objects]}
    if confirmed:
        data["post"] = "yes"
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def listed(client: Client, query: dict[str, str], url: str = TASKS) -> set[Any]:
    response = client.get(url, query)
    assert response.status_code == 200, response
    return set(response.context["cl"].queryset)


# -- permissions ---------------------------------------------------------------------------------


def test_actions_follow_the_model_permissions(
    viewer: Client, operator: Client, purger: Client, admin_client: Client
) -> None:
    assert offered(viewer) == set()
    assert offered(operator) == {"cancel_tasks", "run_again", "revoke_share_links"}
    assert offered(purger) == {"purge_finished"}
    assert offered(admin_client) == TASK_ACTIONS  # never Django's delete_selected
    assert offered(viewer, BATCHES) == set()
    assert offered(operator, BATCHES) == {"cancel_batches", "revoke_share_links"}


def test_an_action_without_its_permission_changes_nothing(
    viewer: Client, purger: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "cancel", lambda record: pytest.fail("cancelled"))
    monkeypatch.setattr(service, "run_again", lambda record: pytest.fail("started"))
    pending, done = task(alice), task(alice, status="succeeded")
    assert act(viewer, "cancel_tasks", [pending]) == []  # a list without actions
    assert act(viewer, "purge_finished", [done]) == []
    assert act(purger, "run_again", [done]) == ["No action selected."]
    assert act(purger, "cancel_tasks", [pending]) == ["No action selected."]
    pending.refresh_from_db()
    assert (pending.status, pending.cancel_requested) == ("pending", False)
    assert TaskRecord.objects.count() == 2


def test_task_pages_are_read_only_even_with_change(operator: Client, alice: Any) -> None:
    record = task(alice, status="running")
    page = operator.get(f"{TASKS}{record.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert operator.post(f"{TASKS}{record.pk}/change/", {}).status_code == 403
    assert operator.get(f"{TASKS}add/").status_code == 403


def test_only_finished_tasks_can_be_deleted_from_their_page(admin_client: Client) -> None:
    batch = TaskBatch.objects.create()
    running = task(status="running")
    done = task(status="failed", batch=batch)
    assert admin_client.get(f"{TASKS}{running.pk}/delete/").status_code == 403
    assert admin_client.get(f"{TASKS}{done.pk}/delete/").status_code == 200
    assert admin_client.post(f"{TASKS}{done.pk}/delete/", {"post": "yes"}).status_code == 302
    assert list(TaskRecord.objects.all()) == [running]
    assert not TaskBatch.objects.exists()  # it went with its last task


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_goes_through_the_service(
    operator: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    cancel = service.cancel
    monkeypatch.setattr(service, "cancel", lambda record: calls.append(record.pk) or cancel(record))
    finished: list[Any] = []
    signals.task_finished.connect(receiver := lambda record, **kw: finished.append(record.pk))
    try:
        pending = task(alice)
        running = task(alice, status="running", progress=2, target=10)
        done = task(alice, status="succeeded")
        messages = act(operator, "cancel_tasks", [pending, running, done])
    finally:
        signals.task_finished.disconnect(receiver)
    assert messages == ["Cancelled 1 task; asked 1 task to stop; 1 task had already finished."]
    assert sorted(calls) == sorted([pending.pk, running.pk])
    for record in (pending, running, done):
        record.refresh_from_db()
    assert (pending.status, pending.cancel_requested) == ("cancelled", True)
    assert pending.error == {
        "type": "Cancelled",
        "message": "The task was cancelled before it started.",
    }
    assert (running.status, running.cancel_requested) == ("running", True)
    assert (done.status, done.cancel_requested) == ("succeeded", False)
    assert finished == [pending.pk]  # the engine's transition, with its signal


def test_cancel_batches_cancels_their_unfinished_tasks(operator: Client) -> None:
    batch, other = TaskBatch.objects.create(), TaskBatch.objects.create()
    pending, running = task(batch=batch), task(batch=batch, status="running")
    done, elsewhere = task(batch=batch, status="succeeded"), task(batch=other)
    messages = act(operator, "cancel_batches", [batch], BATCHES)
    assert messages == ["Cancelled or asked to stop 2 tasks."]
    states = {r.pk: (r.status, r.cancel_requested) for r in TaskRecord.objects.all()}
    assert states == {
        pending.pk: ("cancelled", True),
        running.pk: ("running", True),
        done.pk: ("succeeded", False),
        elsewhere.pk: ("pending", False),
    }


# -- run again -----------------------------------------------------------------------------------


def wait_for(record: TaskRecord, timeout: float = 10) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while not record.is_finished:
        assert time.monotonic() < deadline, f"{record} did not finish"
        time.sleep(0.02)
        record.refresh_from_db()
    return record


@pytest.mark.django_db(transaction=True)
def test_run_again_starts_and_dispatches_a_new_task(operator: Client, alice: Any) -> None:
    failed = task(alice, name="add", inputs={"a": 1, "b": 2}, status="failed", batch=None)
    anonymous = task(name="add", inputs={"a": 5}, session_key="s" * 32, status="succeeded")
    enqueued: list[TaskRecord] = []
    signals.task_enqueued.connect(receiver := lambda record, **kw: enqueued.append(record))
    try:
        messages = act(operator, "run_again", [failed, anonymous])
    finally:
        signals.task_enqueued.disconnect(receiver)
    assert messages == ["Started 2 tasks again."]
    again, again_anonymous = (wait_for(record) for record in enqueued)
    assert again.pk not in (failed.pk, anonymous.pk)
    assert (again.name, again.inputs, again.owner, again.session_key) == (
        "add",
        {"a": 1, "b": 2},
        alice,
        "",
    )
    assert (again.status, again.outputs) == ("succeeded", {"sum": 3})
    assert (again_anonymous.owner, again_anonymous.session_key) == (None, "s" * 32)
    assert again_anonymous.outputs == {"sum": 6}
    assert TaskRecord.objects.count() == 4


def test_run_again_reports_what_cannot_start(operator: Client, alice: Any, settings: Any) -> None:
    settings.TASK_API_MAX_RUNNING_PER_USER = 1
    gone = task(alice, name="no-such-task", status="failed")
    bad = task(name="add", inputs={"a": "one"}, status="failed")
    limited = task(alice, name="add", inputs={"a": 1}, status="succeeded")
    task(alice)  # alice's one unfinished task
    messages = act(operator, "run_again", [gone, bad, limited])
    assert len(messages) == 3
    assert messages[0] == (
        f"Could not run no-such-task {gone.uuid} again: "
        "'no-such-task' is neither a registered task nor a @task function."
    )
    assert messages[1].startswith(f"Could not run add {bad.uuid} again:")
    assert messages[2] == (
        f"Could not run add {limited.uuid} again: "
        "You already have 1 unfinished tasks; wait for one to finish."
    )
    assert TaskRecord.objects.count() == 4


# -- purge ---------------------------------------------------------------------------------------


def test_purge_deletes_finished_tasks_with_their_blocks_links_and_empty_batches(
    purger: Client, operator: Client, alice: Any
) -> None:
    batch, shared_batch = TaskBatch.objects.create(), TaskBatch.objects.create()
    done = task(alice, status="succeeded", batch=batch, streams={"answer": 2})
    StreamBlock.objects.create(
        task=done, stream="answer", start=0, end=2, size=2, chunks=["a", "b"]
    )
    links.share(done)
    failed = task(alice, status="failed", batch=shared_batch)
    running = task(alice, status="running", batch=shared_batch)
    assert act(operator, "purge_finished", [done, failed]) == ["No action selected."]
    # First a page that lists what goes and what stays, and deletes nothing.
    chosen = [done.pk, failed.pk, running.pk]
    asked = purger.post(TASKS, {"action": "purge_finished", "_selected_action": chosen})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Delete these 2 finished tasks" in page
    assert str(done.uuid) in page
    assert str(failed.uuid) in page
    assert str(running.uuid) not in page
    assert "1 selected task has not finished and will be kept." in page
    assert '<input type="hidden" name="post" value="yes">' in page
    assert TaskRecord.objects.count() == 3
    nothing = purger.post(TASKS, {"action": "purge_finished", "_selected_action": [running.pk]})
    assert "there is nothing to delete" in nothing.content.decode()
    assert 'name="post"' not in nothing.content.decode()
    messages = act(purger, "purge_finished", [done, failed, running], confirmed=True)
    assert messages == ["Deleted 2 tasks; kept 1 task that has not finished."]
    assert list(TaskRecord.objects.all()) == [running]
    assert not StreamBlock.objects.exists()
    assert not ShareLink.objects.exists()
    assert list(TaskBatch.objects.all()) == [shared_batch]  # still holds a task


# -- filters -------------------------------------------------------------------------------------


def test_filters_by_status_name_owner_batch_and_date(viewer: Client, alice: Any) -> None:
    batch = TaskBatch.objects.create()
    running = task(alice, status="running", batch=batch)
    added = task(name="add", inputs={"a": 1}, status="succeeded")
    old = task(alice, status="failed", created=timezone.now() - timedelta(days=400))
    assert listed(viewer, {"status__exact": "running"}) == {running}
    assert listed(viewer, {"name": "add"}) == {added}
    assert listed(viewer, {"owner__id__exact": str(alice.pk)}) == {running, old}
    assert listed(viewer, {"owner__isnull": "True"}) == {added}
    assert listed(viewer, {"batch": str(batch.uuid)}) == {running}
    assert listed(viewer, {"batch": "any"}) == {running}
    assert listed(viewer, {"batch": "none"}) == {added, old}
    since = (timezone.now() - timedelta(days=7)).isoformat()
    assert listed(viewer, {"created__gte": since}) == {running, added}
    refused = viewer.get(TASKS, {"batch": "not-a-uuid"})
    assert (refused.status_code, refused["Location"]) == (302, f"{TASKS}?e=1")
    sidebar = viewer.get(TASKS).content.decode()
    for title in ("By status", "By task", "By owner", "By batch", "By created"):
        assert title in sidebar


# -- progress ------------------------------------------------------------------------------------


def test_the_list_renders_bars_that_unfinished_tasks_keep_live(viewer: Client, alice: Any) -> None:
    running = task(alice, status="running", progress=3, target=10, cancel_requested=True)
    done = task(alice, status="succeeded", progress=10, target=10)
    page = viewer.get(TASKS).content.decode()
    assert "django-task-api.min.js" in page
    assert "task_api/admin-live.js" in page
    assert "task_api/admin-live.css" in page
    assert (
        f'<span class="task-api-progress" data-base-url="/tasks/" data-kind="task"'
        f' data-max-watched="100" data-status="running" data-uuid="{running.uuid}"'
        ' data-ws-url="/ws/tasks/"><progress max="10" title="3 of 10" value="3">30 %</progress>'
        ' <span class="task-api-label">30 %</span></span>'
    ) in page
    assert (
        f'<span class="task-api-progress" data-kind="task" data-status="succeeded"'
        f' data-uuid="{done.uuid}"><progress max="10" title="10 of 10" value="10">100 %'
    ) in page
    assert (
        f'<span class="task-api-status" data-status-of="{running.uuid}">'
        "Running, cancel requested</span>"
    ) in page


@override_settings(ROOT_URLCONF="tests.test_admin")
def test_without_the_api_s_urls_the_bars_stay_as_rendered(viewer: Client) -> None:
    running = task(status="running", progress=1, target=2)
    page = viewer.get(TASKS).content.decode()
    assert f'data-status="running" data-uuid="{running.uuid}"><progress' in page
    assert "data-base-url" not in page


def test_under_django_permissions_watching_needs_view(
    login: Callable[..., Client], settings: Any, alice: Any
) -> None:
    """The bars read through the API, which asks the access policy: ``change`` alone
    shows the list but watches nothing."""
    settings.TASK_API_ACCESS_POLICY = "task_api.engine.policy.DjangoPermissions"
    record = task(alice, status="running")
    changer = login("change_taskrecord")
    assert changer.get(TASKS).status_code == 200
    assert changer.get(f"/tasks/{record.uuid}/").status_code == 404
    viewer = login("view_taskrecord", "change_taskrecord")
    assert viewer.get(f"/tasks/{record.uuid}/").status_code == 200


@pytest.mark.parametrize(
    ("status", "progress", "target", "bar", "label"),
    [
        ("pending", None, None, '<progress max="1" value="0">', ""),
        ("running", 7, None, "<progress>", "7"),
        ("running", 15, 10, '<progress max="10" title="15 of 10" value="10">', "100 %"),
        ("running", 1, 3, '<progress max="3" title="1 of 3" value="1">', "33 %"),
        ("succeeded", None, None, '<progress max="1" value="1">', ""),
        ("cancelled", 2, None, '<progress max="1" value="0">', "2"),
    ],
)
def test_bars_with_and_without_a_target(
    status: str, progress: int | None, target: int | None, bar: str, label: str
) -> None:
    html = live.bar("task", uuid_lib.uuid4(), status, progress, target, None)
    assert f"{bar}{label}</progress>" in html
    assert f'<span class="task-api-label">{label}</span>' in html
    assert "data-base-url" not in html


# -- batches -------------------------------------------------------------------------------------


def test_the_batch_admin_shows_the_aggregate_and_links_to_its_tasks(viewer: Client) -> None:
    batch = TaskBatch.objects.create()
    tasks = {
        task(batch=batch, status="succeeded", progress=5, target=5),
        task(batch=batch, status="succeeded", progress=5, target=5),
        task(batch=batch, status="running", progress=2, target=10),
    }
    task(status="running")  # in no batch
    for page in (viewer.get(BATCHES), viewer.get(f"{BATCHES}{batch.pk}/change/")):
        html = page.content.decode()
        assert f'data-status-of="{batch.uuid}">Running</span>' in html
        assert f'data-counts-of="{batch.uuid}">1 running, 2 succeeded</span>' in html
        assert '<progress max="20" title="12 of 20" value="12">60 %</progress>' in html
        assert 'data-kind="batch" data-max-watched="100" data-status="running"' in html
        assert f'<a href="{TASKS}?batch={batch.uuid}">3 tasks</a>' in html
    assert listed(viewer, {"batch": str(batch.uuid)}) == tasks


# -- share links ---------------------------------------------------------------------------------


def test_share_links_show_on_the_page_and_revoke(
    viewer: Client, operator: Client, alice: Any
) -> None:
    record = task(alice, status="running")
    token = links.share(record, can_cancel=True, by=alice)
    links.share(record)
    revoked = ShareLink.objects.create(
        digest="0" * 64, task=record, expires=timezone.now() + timedelta(hours=1)
    )
    ShareLink.objects.filter(pk=revoked.pk).update(revoked=timezone.now())
    live_link = ShareLink.objects.get(can_cancel=True)
    url = f"{TASKS}{record.pk}/share-links/{live_link.pk}/revoke/"
    page = operator.get(f"{TASKS}{record.pk}/change/").content.decode()
    assert token not in page
    assert live_link.digest not in page
    assert "Share links" in page
    assert page.count(">live<") == 2
    assert page.count(">revoked<") == 1
    assert page.count('formmethod="post">Revoke</button>') == 2
    assert f'formaction="{url}"' in page
    seen = viewer.get(f"{TASKS}{record.pk}/change/").content.decode()
    assert seen.count(">live<") == 2
    assert "Revoke</button>" not in seen
    assert viewer.post(url).status_code == 403
    assert operator.get(url).status_code == 405
    answer = operator.post(url, follow=True)
    assert [str(m) for m in answer.context["messages"]] == ["The share link was revoked."]
    assert answer.redirect_chain == [(f"{TASKS}{record.pk}/change/", 302)]
    live_link.refresh_from_db()
    assert live_link.revoked is not None
    again = operator.post(url, follow=True)
    assert [str(m) for m in again.context["messages"]] == ["That share link was no longer live."]
    assert act(operator, "revoke_share_links", [record]) == ["Revoked 1 live share link."]
    assert not ShareLink.objects.filter(revoked__isnull=True).exists()


def test_batch_share_links_show_and_revoke(operator: Client, alice: Any) -> None:
    batch = TaskBatch.objects.create(owner=alice)
    links.share(batch)
    link = ShareLink.objects.get()
    page = operator.get(f"{BATCHES}{batch.pk}/change/").content.decode()
    url = f"{BATCHES}{batch.pk}/share-links/{link.pk}/revoke/"
    assert f'formaction="{url}"' in page
    assert operator.post(url).status_code == 302
    link.refresh_from_db()
    assert link.revoked is not None


# -- the docs ------------------------------------------------------------------------------------


def test_operators_snippet_gives_the_actions(django_user_model: Any, client: Client) -> None:
    namespace = exec_snippet("admin-operators", {})
    user = django_user_model.objects.create_user("operator", is_staff=True)
    user.groups.add(namespace["operators"])
    client.force_login(user)
    assert offered(client) == {"cancel_tasks", "run_again", "revoke_share_links"}
    assert offered(client, BATCHES) == {"cancel_batches", "revoke_share_links"}
