"""``task_api.testing`` used as a project's own tests would use it: class and function tasks,
failures, cancellation and the order of what a task reports, under pytest and under
Django's test runner."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import TestCase

from task_api.exceptions import InputErrors
from task_api.functions import django_tasks_available
from task_api.models import TaskRecord
from task_api.params import IntParameter, StringParameter
from task_api.tasks import Task
from task_api.testing import run
from tests.project.tasks import BadOutput, Burst, Countdown, Fail, Flaky
from tests.services import REPO_ROOT

needs_tasks = pytest.mark.skipif(
    not django_tasks_available(), reason="@task functions need Django 6 or django-tasks"
)


class Import(Task):
    """Imports rows, warning about the empty ones (not in TASK_API_BACKGROUND_TASKS)."""

    name = "testing-import"
    inputs = {"rows": IntParameter(minimum=0), "source": StringParameter(required=False)}
    outputs = {"imported": IntParameter()}

    def run(self, rows: int, source: str = "upload") -> int:
        self.add_message(f"reading {source}")
        self.set_target(rows)
        for row in range(1, rows + 1):
            if row % 2 == 0:
                self.add_message(f"row {row} is empty", level="warning")
            self.set_progress(row)
        self.add_message("done", level="success")
        return rows


pytestmark = pytest.mark.django_db


def test_a_class_task_reports_every_step_in_order() -> None:
    result = run(Import, rows=3)
    result.assert_succeeded()
    assert result.status == "succeeded"
    assert result.outputs == {"imported": 3}
    assert result.progress == [(None, 3), (1, 3), (2, 3), (3, 3)]
    assert result.messages == ["reading upload", "row 2 is empty", "done"]
    assert result.messages_at("warning") == ["row 2 is empty"]
    assert [entry["level"] for entry in result.message_log] == ["info", "warning", "success"]
    assert result.error is None
    assert result.record == TaskRecord.objects.get(name="testing-import")
    assert (result.record.progress, result.record.target) == (3, 3)


def test_progress_is_not_coalesced() -> None:
    result = run(Burst, count=500)
    assert result.progress == [(None, 500)] + [(i, 500) for i in range(1, 501)]
    run(Countdown, count=2).assert_succeeded()


def test_inputs_are_checked_and_outputs_converted() -> None:
    with pytest.raises(InputErrors) as raised:
        run(Import, rows=-1, colour="red")
    assert set(raised.value.errors) == {"rows", "colour"}
    assert run(Import, rows="2", source=7).messages[0] == "reading 7"
    run(BadOutput, mode="type").assert_failed("OutputError", match="output 'value'")
    with pytest.raises(TypeError, match="keyword inputs"):
        run(Import, 3)


def test_a_failure_shows_its_error_and_traceback() -> None:
    result = run(Fail, reason="disk full")
    result.assert_failed(ValueError, match="disk full")
    assert result.error == {"type": "ValueError", "message": "disk full"}
    with pytest.raises(AssertionError) as raised:
        result.assert_succeeded()
    shown = str(raised.value)
    assert "'fail' failed, expected succeeded: ValueError: disk full" in shown
    assert "Traceback (most recent call last)" in shown
    assert "raise ValueError(reason)" in shown
    with pytest.raises(AssertionError, match="expected KeyError"):
        result.assert_failed(KeyError)
    with pytest.raises(AssertionError, match="matching 'quota'"):
        result.assert_failed(match="quota")


def test_a_retried_task_runs_again_at_once() -> None:
    result = run(Flaky, succeed_on=3)
    result.assert_succeeded()
    assert result.outputs == {"attempt": 3}
    assert result.record.attempt == 3
    assert [m["level"] for m in result.message_log] == ["warning", "warning"]


def test_cancel_after_some_reports() -> None:
    result = run(Import, rows=10, cancel_after=4)
    result.assert_cancelled()
    # The 4th report (the message of row 2) asks for a cancel: the next one stops the task.
    assert result.progress == [(None, 10), (1, 10)]
    assert result.messages == ["reading upload", "row 2 is empty"]
    assert result.error == {"type": "Cancelled", "message": "The task was cancelled."}
    assert result.record.cancel_requested
    before = run(Import, rows=10, cancel_after=0)
    before.assert_cancelled()
    assert (before.progress, before.messages) == ([], ["reading upload"])
    with pytest.raises(AssertionError, match="cancelled, expected succeeded"):
        before.assert_succeeded()


@needs_tasks
def test_a_function_task_takes_its_call_arguments() -> None:
    from tests.project.functions import count, explode

    result = run(count, 3, label="item")
    result.assert_succeeded()
    assert result.return_value == 3
    assert result.progress == [(None, 3), (1, 3), (2, 3), (3, 3)]
    assert result.messages == ["item 1", "item 2", "item 3"]
    failed = run(explode, reason="no")
    failed.assert_failed(ValueError, match="^no$")
    with pytest.raises(AttributeError, match="failed without a return value"):
        _ = failed.return_value
    with pytest.raises(InputErrors):
        run(count, "three")


class ImportTestCase(TestCase):
    """The same helpers in a ``django.test.TestCase``, also run by Django's test runner below."""

    def test_import(self) -> None:
        result = run(Import, rows=2, source="csv").assert_succeeded()
        assert result.outputs == {"imported": 2}
        assert result.progress == [(None, 2), (1, 2), (2, 2)]
        assert result.messages == ["reading csv", "row 2 is empty", "done"]

    def test_cancel(self) -> None:
        run(Import, rows=5, cancel_after=1).assert_cancelled()
        assert TaskRecord.objects.get().status == "cancelled"


def test_django_test_runner_runs_a_testcase_with_the_helpers() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TASK_API_DB_NAME", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="tests.project.settings", TASK_API_TEST_DB="sqlite")
    label = f"{__name__}.ImportTestCase"
    result = subprocess.run(
        [sys.executable, "-m", "django", "test", label, "-v", "2"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 2 tests" in result.stderr
    assert "test_cancel" in result.stderr
