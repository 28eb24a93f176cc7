"""Prometheus metrics in one process: what the signals and hooks count, the task table's
gauges, who may read the page, the system checks, and a project without prometheus-client.

The test project turns ``TASK_API_METRICS`` on, so every test process counts; the values are
compared before and after what a test does. ``tests/test_metrics_processes.py`` adds up
real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.checks import run_checks
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from task_api import metrics, probes, protocol
from task_api.engine import lifecycle, publisher, service
from task_api.metrics import receivers
from task_api.models import TaskRecord, TaskStatus
from tests.project.asgi import application
from tests.services import REPO_ROOT

ORIGIN = (b"origin", b"http://testserver")
TOKEN = "s3cret-scrape-token"


def value(metric: str, /, **labels: str) -> float:
    """The sample's value in this process (0 if it has none yet)."""
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.fixture
def counted() -> Callable[..., float]:
    """``counted(name, **labels)``: how much the sample grew since the test started."""
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            before[sample.name, tuple(sorted(sample.labels.items()))] = sample.value

    def grown(metric: str, /, **labels: str) -> float:
        return value(metric, **labels) - before.get((metric, tuple(sorted(labels.items()))), 0.0)

    return grown


def scrape(client: Client, **headers: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The metrics page as samples by name and labels."""
    response = client.get("/tasks/metrics/", **headers)
    assert response.status_code == 200, response.content
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def staff_client(users: Any) -> Client:
    client = Client()
    client.force_login(users.staff)
    return client


# -- what is counted -------------------------------------------------------------------------


def test_the_test_project_counts() -> None:
    assert metrics.available()
    assert isinstance(probes.probe, receivers.CountingProbe)


@pytest.mark.django_db(transaction=True)
def test_a_task_is_counted_from_enqueue_to_success(counted: Callable[..., float]) -> None:
    record, created = service.start("add", {"a": 2, "b": 3})
    assert created
    record.refresh_from_db()
    assert record.status == TaskStatus.SUCCEEDED
    assert counted("task_api_tasks_enqueued_total", name="add") == 1
    assert counted("task_api_tasks_started_total", name="add") == 1
    assert counted("task_api_tasks_finished_total", name="add", state="succeeded") == 1
    assert counted("task_api_tasks_retried_total", name="add") == 0
    assert counted("task_api_task_runtime_seconds_count", name="add") == 1
    assert counted("task_api_task_queue_seconds_count", name="add") == 1
    runtime = (record.finished - record.started).total_seconds()
    assert counted("task_api_task_runtime_seconds_sum", name="add") == pytest.approx(runtime)
    waited = (record.started - record.created).total_seconds()
    assert counted("task_api_task_queue_seconds_sum", name="add") == pytest.approx(waited)


@pytest.mark.django_db(transaction=True)
def test_failures_and_cancellations_are_finished_states(counted: Callable[..., float]) -> None:
    service.start("fail", {"reason": "no"})
    assert counted("task_api_tasks_finished_total", name="fail", state="failed") == 1
    pending = TaskRecord.objects.create(name="sleep", inputs={"seconds": 1})
    lifecycle.cancel(pending)
    assert pending.status == TaskStatus.CANCELLED
    assert counted("task_api_tasks_finished_total", name="sleep", state="cancelled") == 1
    # It never ran: no run time, and it was never started.
    assert counted("task_api_task_runtime_seconds_count", name="sleep") == 0
    assert counted("task_api_tasks_started_total", name="sleep") == 0


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_counted_as_a_start_and_a_retry(
    settings: Any, counted: Callable[..., float]
) -> None:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    record, _ = service.start("flaky", {"succeed_on": 3})
    deadline = time.monotonic() + 20
    while record.status != TaskStatus.SUCCEEDED:
        assert time.monotonic() < deadline, record.status
        time.sleep(0.05)
        record.refresh_from_db()
    assert record.attempt == 3
    assert counted("task_api_tasks_started_total", name="flaky") == 3
    assert counted("task_api_tasks_retried_total", name="flaky") == 2
    # The wait in the queue is the first attempt's; the run time the last one's.
    assert counted("task_api_task_queue_seconds_count", name="flaky") == 1
    assert counted("task_api_task_runtime_seconds_count", name="flaky") == 1
    assert counted("task_api_tasks_finished_total", name="flaky", state="succeeded") == 1


@pytest.mark.django_db(transaction=True)
def test_a_deferred_task_waits_from_its_run_after(counted: Callable[..., float]) -> None:
    record = TaskRecord.objects.create(name="add", inputs={"a": 1}, status=TaskStatus.PENDING)
    record.run_after = record.created + timedelta(seconds=30)
    record.save()
    record.started = record.run_after
    receivers.started(TaskRecord, record)
    assert counted("task_api_task_queue_seconds_sum", name="add") == 0  # not 30 s


def test_sent_and_failed_events_are_counted(counted: Callable[..., float]) -> None:
    probes.probe.sent(0.003)
    publisher.Publisher()._log_failure(RuntimeError("the layer is away"))
    assert counted("task_api_events_published_total") == 1
    assert counted("task_api_event_publish_seconds_count") == 1
    assert counted("task_api_event_publish_seconds_sum") == pytest.approx(0.003)
    assert counted("task_api_events_failed_total") == 1


@pytest.mark.django_db(transaction=True)
async def test_websocket_connections_subscriptions_and_events(
    users: Any, session_cookie: Any, counted: Callable[..., float]
) -> None:
    cookie = (await sync_to_async(session_cookie)(users.alice)).header.encode()
    record = await sync_to_async(TaskRecord.objects.create)(
        name="add", owner=users.alice, status=TaskStatus.RUNNING
    )
    communicator = WebsocketCommunicator(
        application, "/ws/tasks/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    assert (await communicator.connect())[0]
    try:
        assert counted("task_api_websocket_connections") == 1
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
        assert json.loads(await communicator.receive_from(timeout=5))["type"] == "snapshot"
        assert counted("task_api_subscriptions") == 1
        frame = protocol.update_frame(record.uuid, 1, {"progress": 1}, [])
        await sync_to_async(publisher.publish)(record.uuid, frame, wait=True)
        assert json.loads(await communicator.receive_from(timeout=5))["seq"] == 1
        assert counted("task_api_events_published_total") == 1
        assert counted("task_api_event_publish_seconds_count") == 1
        await communicator.send_json_to({"type": "unsubscribe", "uuid": str(record.uuid)})
        await communicator.send_json_to({"type": "ping"})
        assert json.loads(await communicator.receive_from(timeout=5))["type"] == "pong"
        assert counted("task_api_subscriptions") == 0
        await communicator.send_json_to({"type": "subscribe", "uuid": str(record.uuid)})
        await communicator.receive_from(timeout=5)
        assert counted("task_api_subscriptions") == 1
    finally:
        await communicator.disconnect()
    assert counted("task_api_websocket_connections") == 0
    assert counted("task_api_subscriptions") == 0  # left with the connection


def test_uninstalled_nothing_is_counted(counted: Callable[..., float]) -> None:
    metrics.uninstall()
    try:
        assert type(probes.probe) is probes.Probe
        probes.probe.connections(1)
        record = TaskRecord(name="add", status=TaskStatus.SUCCEEDED)
        lifecycle.send(lifecycle.signals.task_finished, record)
    finally:
        assert metrics.install()
    assert counted("task_api_websocket_connections") == 0
    assert counted("task_api_tasks_finished_total", name="add", state="succeeded") == 0


# -- the page --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_page_counts_pending_and_running_tasks_by_name(staff_client: Client) -> None:
    for status in (TaskStatus.PENDING, TaskStatus.PENDING, TaskStatus.RUNNING):
        TaskRecord.objects.create(name="sleep", status=status)
    TaskRecord.objects.create(name="unregistered", status=TaskStatus.RUNNING)
    TaskRecord.objects.create(name="sleep", status=TaskStatus.SUCCEEDED)
    page = scrape(staff_client)
    assert page["task_api_tasks_pending"][(("name", "sleep"),)] == 2
    assert page["task_api_tasks_running"][(("name", "sleep"),)] == 1
    assert page["task_api_tasks_running"][(("name", "unregistered"),)] == 1
    # Every registered task has its series, at 0 when none waits or runs.
    assert page["task_api_tasks_pending"][(("name", "add"),)] == 0
    assert page["task_api_tasks_running"][(("name", "add"),)] == 0
    # The counters of this process are there too.
    assert "task_api_tasks_started_total" in page
    assert "task_api_websocket_connections" in page


@pytest.mark.django_db(transaction=True)
def test_only_staff_and_the_token_read_the_page(
    users: Any, settings: Any, staff_client: Client
) -> None:
    settings.TASK_API_METRICS_TOKEN = TOKEN
    anonymous = Client().get("/tasks/metrics/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    alice = Client()
    alice.force_login(users.alice)
    assert alice.get("/tasks/metrics/").status_code == 403
    wrong = Client().get("/tasks/metrics/", HTTP_AUTHORIZATION="Bearer guessed")
    assert wrong.status_code == 403
    basic = Client().get("/tasks/metrics/", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert basic.status_code == 403
    for client, headers in (
        (staff_client, {}),
        (Client(), {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}),
    ):
        response = client.get("/tasks/metrics/", **headers)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "no-cache" in response["Cache-Control"]
    assert Client().post("/tasks/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    settings.TASK_API_METRICS_TOKEN = None  # no token: a bearer opens nothing
    assert Client().get("/tasks/metrics/", HTTP_AUTHORIZATION="Bearer ").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_openmetrics_when_asked(staff_client: Client) -> None:
    response = staff_client.get(
        "/tasks/metrics/", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


# -- system checks ---------------------------------------------------------------------------


def _ids() -> list[str]:
    return [m.id for m in run_checks(databases=[]) if m.id and m.id[9:] in ("E009", "E010", "W003")]


def test_no_check_fires_for_the_test_project() -> None:
    assert _ids() == []


def test_metrics_without_prometheus_client_is_an_error(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr(metrics, "available", lambda: False)
    assert _ids() == ["task_api.E009"]
    [error] = [m for m in run_checks(databases=[]) if m.id == "task_api.E009"]
    assert 'pip install "django-task-api[metrics]"' in (error.hint or "")
    settings.TASK_API_METRICS = False  # the page is still served: still an error
    assert _ids() == ["task_api.E009"]


def test_a_page_that_nothing_counts_for_is_a_warning(settings: Any) -> None:
    settings.TASK_API_METRICS = False
    assert _ids() == ["task_api.W003"]
    settings.ROOT_URLCONF = "task_api.urls"  # neither served nor counted: nothing to say
    assert _ids() == []


def test_a_missing_multiprocess_directory_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    assert _ids() == ["task_api.E010"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert _ids() == []


# -- without prometheus-client ---------------------------------------------------------------

WITHOUT = """
import sys
sys.modules["prometheus_client"] = None  # as if it were not installed
import django
django.setup()
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client
from task_api.engine import service
from task_api.models import TaskRecord

call_command("migrate", verbosity=0)
record, _ = service.start("add", {"a": 1})
record.refresh_from_db()
client = Client()
client.force_login(User.objects.create(username="ops", is_staff=True))
page = client.get("/tasks/metrics/")
print({
    "status": record.status,
    "checks": sorted(m.id for m in run_checks(databases=[]) if m.id.startswith("task_api.")),
    "page": [page.status_code, page.content.decode()],
    "imported": [name for name in sys.modules if name.startswith("prometheus_client.")],
})
"""


def _run(code: str, tmp_path: Any, **env: str) -> dict[str, Any]:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "TASK_API_TEST_DB": "sqlite",
        "TASK_API_DB_NAME": str(tmp_path / "db.sqlite3"),
        "PYTHONPATH": str(REPO_ROOT),
        **env,
    }
    environ.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = eval(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def test_without_prometheus_client_tasks_run_and_the_check_explains(tmp_path: Any) -> None:
    result = _run(WITHOUT, tmp_path)
    assert result["status"] == "succeeded"
    assert result["checks"] == ["task_api.E009"]
    assert result["page"] == [
        503,
        'prometheus-client is not installed: pip install "django-task-api[metrics]"\n',
    ]
    assert "prometheus-client is missing" in result["stderr"]


def test_with_metrics_off_nothing_imports_prometheus_client(tmp_path: Any) -> None:
    code = WITHOUT.replace('sys.modules["prometheus_client"] = None', "")
    code = code.replace('client.get("/tasks/metrics/")', 'client.get("/tasks/health/")')
    result = _run(code, tmp_path, TASK_API_TEST_METRICS="off")
    assert result["status"] == "succeeded"
    assert result["checks"] == ["task_api.W003"]  # the test project serves the page
    assert result["page"][0] == 200
    assert result["imported"] == []
