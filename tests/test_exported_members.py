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
    assert set(task_api.__all__) == public


def test_every_exported_name_exists() -> None:
    for module in (task_api, task_api.params):
        for name in module.__all__:
            assert getattr(module, name) is not None
