"""Build hook: the sdist ships no ``.gitignore`` (hatchling adds the one it reads)."""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Drops ``.gitignore`` from the files hatchling forces into the sdist."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        forced: dict[str, str] = build_data.get("force_include", {})
        for path in [path for path, name in forced.items() if name == ".gitignore"]:
            del forced[path]
