"""The package's public names."""

from __future__ import annotations

import inspect

import task_api
import task_api.params


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(task_api).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert task_api.__all__ == sorted(task_api.__all__)
    # progress is the one exported module: progress.set(n) and friends.
    assert set(task_api.__all__) == public | {"progress"}


def test_every_exported_name_exists() -> None:
    for module in (task_api, task_api.params):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_every_exception_is_exported_under_one_root() -> None:
    import task_api.exceptions

    classes = {
        name: value
        for name, value in vars(task_api.exceptions).items()
        if isinstance(value, type) and issubclass(value, BaseException)
        and value.__module__ == "task_api.exceptions"
    }  # fmt: skip
    assert set(classes) <= set(task_api.__all__)
    for cls in classes.values():
        assert issubclass(cls, task_api.TaskAPIException)


def test_stop_signals_are_not_exceptions() -> None:
    for stop in (task_api.Cancelled, task_api.TaskTimeout):
        assert not issubclass(stop, Exception)
    assert issubclass(task_api.TaskAPIError, Exception)
