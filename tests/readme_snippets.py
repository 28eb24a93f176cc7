"""The fenced code blocks of README.md, and its named snippets as runnable code.

A snippet is the block right after a ``<!-- snippet: NAME -->`` line.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django

README = Path(__file__).resolve().parent.parent / "README.md"

_MARKER = re.compile(r"^<!--\s*snippet:\s*([\w-]+)\s*-->\s*$")
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its info string, text and the README line of its first line."""

    lang: str
    text: str
    line: int
    name: str | None

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced code block of ``text`` (the README by default), in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        marker = _MARKER.match(lines[index - 1]) if index else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence.group(1):
            end += 1
        if end == len(lines):
            raise ValueError(f"README.md:{index + 1}: the code block is never closed")
        found.append(
            Block(
                lang=fence.group(2),
                text="\n".join(lines[index + 1 : end]) + "\n",
                line=index + 2,
                name=marker.group(1) if marker else None,
            )
        )
        index = end + 1
    return found


def snippet_block(name: str) -> Block:
    """The README's snippet ``name``; a clear error if it is missing or given twice."""
    named = [block for block in blocks() if block.name == name]
    if len(named) != 1:
        known = sorted({block.name for block in blocks() if block.name})
        what = "no" if not named else f"{len(named)}"
        raise LookupError(f"README.md has {what} snippet {name!r}; its snippets: {known}")
    return named[0]


def snippet(name: str) -> str:
    """The text of the README's snippet ``name``."""
    return snippet_block(name).text


def compile_snippet(name: str) -> types.CodeType:
    """The Python snippet ``name``, compiled so that tracebacks show README.md lines.

    Before Django 6 it imports the ``django-tasks`` backport as the README says:
    ``from django_tasks import ...`` for ``from django.tasks import ...``.
    """
    block = snippet_block(name)
    text = block.text
    if django.VERSION < (6,):
        text = text.replace("from django.tasks import", "from django_tasks import")
    return compile("\n" * (block.line - 1) + text, str(README), "exec")


def exec_snippet(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run the Python snippet ``name`` in ``namespace`` and return it."""
    exec(compile_snippet(name), namespace)
    return namespace


def load_snippet_module(name: str, module_name: str) -> types.ModuleType:
    """Run the Python snippet ``name`` as a fresh module ``module_name`` in ``sys.modules``.

    Missing parent packages are created empty. The caller removes the modules
    (``sys.modules``) when done, e.g. with ``monkeypatch.delitem``.
    """
    parts = module_name.split(".")
    for depth in range(1, len(parts)):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            parent = types.ModuleType(package)
            parent.__path__ = []
            sys.modules[package] = parent
    module = types.ModuleType(module_name)
    module.__file__ = str(README)
    sys.modules[module_name] = module
    exec_snippet(name, module.__dict__)
    return module


def table(*header: str) -> list[list[str]]:
    """The body rows of the README's Markdown table whose header cells are ``header``."""
    lines = README.read_text().splitlines()
    for index, line in enumerate(lines):
        if _cells(line) == list(header):
            rows = []
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    raise LookupError(f"README.md has no table with the header {list(header)}")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return []
    return [cell.strip() for cell in line[1:-1].split("|")]
