"""OpenTelemetry spans: a start is a producer span, a run a consumer span, its child, in
the test process (in-process engine) and across daphne and a Celery worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from rest_framework.test import APIClient

from task_api.engine import tracing
from task_api.models import TaskRecord
from tests.project.tracing import as_dict
from tests.watching import RestClient

TERMINAL = ("succeeded", "failed", "cancelled")


class Recorder(SpanExporter):
    """Keeps the spans finished while a test records, as dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.spans is not None:
            self.spans += [as_dict(span) for span in spans]
        return SpanExportResult.SUCCESS


_recorder = Recorder()


@pytest.fixture
def spans() -> Iterator[list[dict[str, Any]]]:
    """The spans this test's code finishes in the test process."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_recorder))
        trace.set_tracer_provider(provider)
    _recorder.spans = []
    yield _recorder.spans
    _recorder.spans = None


@pytest.fixture
def api(django_user_model: Any, settings: Any) -> APIClient:
    settings.TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("alice"))
    return client


def wait_for(uuid: str) -> TaskRecord:
    deadline = time.monotonic() + 20
    while (record := TaskRecord.objects.get(uuid=uuid)).status not in TERMINAL:
        assert time.monotonic() < deadline, record.status
        time.sleep(0.01)
    return record


def until(spans: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(spans) < count:
        assert time.monotonic() < deadline, spans
        time.sleep(0.01)
    return spans


@pytest.mark.django_db(transaction=True)
def test_a_run_is_the_child_of_the_start(api: APIClient, spans: list[dict[str, Any]]) -> None:
    uuid = api.post("/tasks/", {"task": "countdown", "inputs": {"count": 3}}, format="json")
    record = wait_for(uuid.json()["uuid"])
    send, process = sorted(until(spans, 2), key=lambda span: span["kind"], reverse=True)
    assert (send["name"], send["kind"]) == ("send countdown", "PRODUCER")
    assert (process["name"], process["kind"]) == ("process countdown", "CONSUMER")
    assert process["trace_id"] == send["trace_id"]
    assert process["parent_id"] == send["span_id"]
    assert process["links"] == [send["span_id"]]
    assert send["attributes"] == {
        "messaging.system": "django_task_api",
        "messaging.operation.type": "send",
        "messaging.operation.name": "start",
        "messaging.destination.name": "countdown",
        "messaging.message.id": str(record.uuid),
    }
    assert process["attributes"]["messaging.message.delivery_attempt"] == 1
    assert process["attributes"]["task_api.status"] == "succeeded"
    assert process["attributes"]["task_api.progress"] == 3
    assert process["status"] == "UNSET"
    assert set(record.trace) == {"traceparent"}
    assert send["trace_id"] in record.trace["traceparent"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_is_an_error(api: APIClient, spans: list[dict[str, Any]]) -> None:
    uuid = api.post("/tasks/", {"task": "fail", "inputs": {"reason": "no disk"}}, format="json")
    wait_for(uuid.json()["uuid"])
    (process,) = [span for span in until(spans, 2) if span["kind"] == "CONSUMER"]
    assert process["status"] == "ERROR"
    assert process["attributes"]["error.type"] == "ValueError"


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_one_send_with_a_run_per_task(
    api: APIClient, spans: list[dict[str, Any]]
) -> None:
    body = {"tasks": [{"task": "add", "inputs": {"a": n}} for n in range(3)]}
    batch = api.post("/tasks/batches/", body, format="json").json()
    for uuid in batch["tasks"]:
        wait_for(uuid)
    found = until(spans, 4)
    (send,) = [span for span in found if span["kind"] == "PRODUCER"]
    assert send["name"] == "send batch"
    assert send["attributes"]["messaging.batch.message_count"] == 3
    runs = [span for span in found if span["kind"] == "CONSUMER"]
    assert len(runs) == 3
    assert {span["parent_id"] for span in runs} == {send["span_id"]}


@pytest.mark.django_db
def test_without_a_recording_span_nothing_is_stored(settings: Any) -> None:
    with tracing.sending(["add"], ["u"]) as carrier:
        assert carrier == {}  # the default provider records nothing


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_spans_cross_from_the_server_to_the_worker(
    celery_worker: Any, daphne_server: Any, users: Any, services_env: dict[str, str]
) -> None:
    path = Path(services_env["TASK_API_TEST_SPANS"])
    alice = RestClient(daphne_server.url, "alice", "pw-alice")
    task = alice.start("countdown", {"count": 2})
    assert alice.wait(task["uuid"])["status"] == "succeeded"
    deadline = time.monotonic() + 10
    while True:
        found = (
            [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        )
        ours = [s for s in found if s["attributes"].get("messaging.message.id") == task["uuid"]]
        if len(ours) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    send, process = sorted(ours, key=lambda span: span["kind"], reverse=True)
    assert (send["kind"], process["kind"]) == ("PRODUCER", "CONSUMER")
    assert send["pid"] == daphne_server.pid
    assert process["pid"] in celery_worker.child_pids()
    assert process["trace_id"] == send["trace_id"]
    assert process["parent_id"] == send["span_id"]


def test_the_documented_setup_prints_the_spans_of_a_run() -> None:
    import subprocess
    import sys

    from tests.readme_snippets import REPO_ROOT, snippet

    program = (
        snippet("traces-settings")
        + "\nfrom task_api.engine import tracing\n"
        + "with tracing.sending(['add'], ['u1']) as carrier:\n    print(sorted(carrier))\n"
        + "provider.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO_ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.project.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("['traceparent']")
    assert '"name": "send add"' in done.stdout
    assert '"kind": "SpanKind.PRODUCER"' in done.stdout
