"""The README's "Testing your tasks" section, checked: its pytest module passes under pytest
and its ``TestCase`` under ``manage.py test``, next to the README's task, in a project of
their own. ``tests/test_readme.py`` lists these checks among those of every README block."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from task_api.testing import TaskRun
from tests.readme_snippets import snippet, table
from tests.services import REPO_ROOT


@pytest.fixture
def myapp(tmp_path: Path) -> Path:
    """``myapp`` with the README's task and its two test modules."""
    app = tmp_path / "myapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "background.py").write_text(snippet("task"))
    (app / "test_background.py").write_text(snippet("testing-pytest"))
    (app / "tests.py").write_text(snippet("testing-testcase"))
    return tmp_path


def _run(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TASK_API_DB_NAME", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.project.settings",
        TASK_API_TEST_DB="sqlite",
        PYTHONPATH=os.pathsep.join([str(cwd), str(REPO_ROOT)]),
    )
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_testing_snippets_pass_under_pytest_and_manage_py_test(myapp: Path) -> None:
    tested = _run(myapp, "pytest", "myapp/test_background.py", "-p", "no:cacheprovider", "-q")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout
    tested = _run(myapp, "django", "test", "myapp", "-v", "2")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Ran 2 tests" in tested.stderr
    assert "test_wait_fails_when_sleep_fails (myapp.tests.WaitTests" in tested.stderr


def test_result_table_names_what_a_run_has() -> None:
    names = [re.findall(r"`(\w+)", cell) for cell, _meaning in table("attribute", "meaning")]
    fields = {field.name for field in dataclasses.fields(TaskRun)}
    written = {name for row in names for name in row}
    assert {name for name in written if not hasattr(TaskRun, name)} <= fields
    assert fields | {"return_value", "messages_at", "assert_failed"} <= written


SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "testing-pytest": [test_testing_snippets_pass_under_pytest_and_manage_py_test],
    "testing-testcase": [test_testing_snippets_pass_under_pytest_and_manage_py_test],
}
