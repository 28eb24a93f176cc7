"""``task_api.W002``: a SQLite database of the task tables that concurrent writers find locked."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.checks import CheckMessage, run_checks
from django.db import connections
from django.db.models import Model
from django.test import override_settings

from task_api.checks import SQLITE_OPTIONS, check_sqlite

GOOD = SQLITE_OPTIONS
WAL = "PRAGMA journal_mode=WAL;"


@pytest.fixture
def sqlite_options(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[CheckMessage]]:
    """Run the check with ``OPTIONS`` given to a SQLite ``default`` (whatever the test database)."""

    def run(options: dict[str, Any], alias: str = "default") -> list[CheckMessage]:
        monkeypatch.setattr(connections[alias], "vendor", "sqlite")
        monkeypatch.setitem(connections[alias].settings_dict, "OPTIONS", options)
        return check_sqlite()

    return run


@pytest.mark.skipif(
    os.environ.get("TASK_API_TEST_DB") == "postgres", reason="the test project's SQLite options"
)
def test_the_test_project_has_the_documented_options() -> None:
    assert connections["default"].settings_dict["OPTIONS"] == GOOD
    assert check_sqlite() == []


@pytest.mark.parametrize(
    "options",
    [
        GOOD,
        {**GOOD, "transaction_mode": "EXCLUSIVE"},
        {**GOOD, "init_command": "pragma journal_mode = 'wal'"},
        {"transaction_mode": "immediate", "init_command": f"{WAL} PRAGMA busy_timeout=10000;"},
    ],
)
def test_options_that_wait_for_the_lock_pass(
    sqlite_options: Callable[..., list[CheckMessage]], options: dict[str, Any]
) -> None:
    assert sqlite_options(options) == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({**GOOD, "init_command": "PRAGMA synchronous=NORMAL;"}, "without WAL"),
        ({**GOOD, "init_command": "PRAGMA journal_mode=DELETE;"}, "without WAL"),
        ({k: v for k, v in GOOD.items() if k != "transaction_mode"}, "transaction_mode"),
        ({**GOOD, "transaction_mode": "DEFERRED"}, "transaction_mode"),
        ({k: v for k, v in GOOD.items() if k != "timeout"}, "with a 5 s lock timeout"),
        ({**GOOD, "timeout": 1}, "with a 1 s lock timeout"),
        ({**GOOD, "init_command": f"{WAL} PRAGMA busy_timeout=2000"}, "with a 2 s lock timeout"),
    ],
)
def test_each_problem_is_named_with_the_options_to_set(
    sqlite_options: Callable[..., list[CheckMessage]], options: dict[str, Any], named: str
) -> None:
    (warning,) = sqlite_options(options)
    assert warning.id == "task_api.W002"
    assert named in warning.msg
    assert warning.msg.startswith("DATABASES['default'] is SQLite ")
    assert warning.hint == f"Set DATABASES['default']['OPTIONS'] = {GOOD!r}"


def test_no_options_names_all_three(sqlite_options: Callable[..., list[CheckMessage]]) -> None:
    (warning,) = sqlite_options({})
    assert "without WAL" in warning.msg
    assert "without transaction_mode 'IMMEDIATE'" in warning.msg
    assert "with a 5 s lock timeout (under 10 s)" in warning.msg


def test_the_check_is_registered(sqlite_options: Callable[..., list[CheckMessage]]) -> None:
    sqlite_options({})
    assert "task_api.W002" in [message.id for message in run_checks(databases=[])]


def test_another_database_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections["default"], "vendor", "postgresql")
    monkeypatch.setitem(connections["default"].settings_dict, "OPTIONS", {})
    assert check_sqlite() == []


class TasksElsewhere:
    """Sends the task tables to the ``tasks`` database."""

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return "tasks" if model._meta.app_label == "task_api" else None


@pytest.fixture
def tasks_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A second SQLite database, ``tasks``, without options; the task tables routed to it."""
    with contextlib.suppress(AttributeError):  # the project's own ``tasks`` connection
        del connections["tasks"]
    monkeypatch.setitem(
        connections.settings, "tasks", {**connections["default"].settings_dict, "OPTIONS": {}}
    )
    monkeypatch.setitem(connections.settings["tasks"], "ENGINE", "django.db.backends.sqlite3")
    try:
        with override_settings(DATABASE_ROUTERS=[TasksElsewhere()]):
            yield
    finally:
        with contextlib.suppress(AttributeError):  # made only if the check ran
            del connections["tasks"]


def test_the_database_the_router_writes_tasks_to_is_checked(
    sqlite_options: Callable[..., list[CheckMessage]], tasks_database: None
) -> None:
    (warning,) = sqlite_options(GOOD)
    assert warning.msg.startswith("DATABASES['tasks'] is SQLite ")
    assert warning.hint == f"Set DATABASES['tasks']['OPTIONS'] = {GOOD!r}"
