"""``task_api.compat``: Django's ``django.tasks``, the ``django-tasks`` backport, or neither."""

from __future__ import annotations

import importlib
import sys

import django
import pytest
from django.conf import settings
from django.core.checks import run_checks

from task_api import functions
from task_api.checks import check_task_framework
from task_api.conf import BACKEND_PATH
from tests.project.tasks import Add


@pytest.fixture
def no_task_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django 5.2 without the backport: ``django_tasks`` cannot be imported."""
    monkeypatch.setattr(django, "VERSION", (5, 2, 0, "final", 0))
    monkeypatch.setitem(sys.modules, "django_tasks", None)  # import raises ImportError
    monkeypatch.delitem(sys.modules, "task_api.compat", raising=False)


def test_the_names_come_from_the_framework_of_this_django() -> None:
    compat = importlib.import_module("task_api.compat")
    if django.VERSION >= (6,):
        from django.tasks import exceptions

        assert compat.PACKAGE == "django.tasks"
        assert compat.InvalidTask is exceptions.InvalidTask
    else:
        exceptions = pytest.importorskip("django_tasks.exceptions")
        assert compat.PACKAGE == "django_tasks"
        assert compat.InvalidTask is exceptions.InvalidTaskError
        assert compat.InvalidTaskBackend is exceptions.InvalidTaskBackendError
    assert compat.task.__module__ == f"{compat.PACKAGE}.base"


@pytest.mark.usefixtures("no_task_framework")
def test_without_a_framework_the_import_says_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"pip install django-task-api\[django-tasks\]"):
        importlib.import_module("task_api.compat")
    assert functions.django_tasks_available() is False
    assert functions.is_django_task(Add) is False


@pytest.mark.usefixtures("no_task_framework")
def test_without_a_framework_tasks_naming_the_backend_is_a_check_error() -> None:
    # The test project's TASKS names it (changing TASKS here would wake the backport's
    # setting_changed receiver, which imports django_tasks).
    assert settings.TASKS["default"]["BACKEND"] == BACKEND_PATH
    (error,) = check_task_framework()
    assert error.id == "task_api.E008"
    assert "TASKS['default'] names TaskAPIBackend" in error.msg
    assert "django-tasks" in (error.hint or "")


def test_with_a_framework_the_backend_is_no_check_error() -> None:
    pytest.importorskip("task_api.compat")
    assert [e for e in run_checks(databases=[]) if e.id == "task_api.E008"] == []
