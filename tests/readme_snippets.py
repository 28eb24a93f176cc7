"""The fenced code blocks of README.md and of the docs (``docs/**/*.md``), and their named
snippets as runnable code.

A snippet is the block right after a ``<!-- snippet: NAME -->`` line; its name is unique
across the README and the docs, so a snippet can move between pages and its tests still
find it. A block indented under an admonition (``!!! tip``) counts too, dedented.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"

_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*([\w-]+)\s*-->\s*$")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")


def sources() -> list[Path]:
    """The Markdown files whose code blocks are checked: the README, then the docs."""
    return [README, *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]


@dataclass(frozen=True)
class Block:
    """One fenced code block: its info string, text, file, and the line of its first line."""

    lang: str
    text: str
    line: int
    name: str | None
    path: Path = README

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def where(self) -> str:
        """The file, relative to the repository: ``README.md``, ``docs/tutorial.md``."""
        return self.path.relative_to(REPO_ROOT).as_posix()


def _blocks_of(text: str, path: Path) -> list[Block]:
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, mark = len(fence.group(1)), fence.group(2)
        marker = _MARKER.match(lines[index - 1]) if index else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != mark:
            end += 1
        if end == len(lines):
            raise ValueError(f"{path.name}:{index + 1}: the code block is never closed")
        body = [line[indent:] for line in lines[index + 1 : end]]
        found.append(
            Block(
                lang=fence.group(3),
                text="\n".join(body) + "\n",
                line=index + 2,
                name=marker.group(1) if marker else None,
                path=path,
            )
        )
        index = end + 1
    return found


def blocks(text: str | None = None, path: Path | None = None) -> list[Block]:
    """Every fenced code block of ``text`` (of ``path``), or of the README and the docs."""
    if text is not None:
        return _blocks_of(text, path or README)
    if path is not None:
        return _blocks_of(path.read_text(), path)
    return [block for source in sources() for block in _blocks_of(source.read_text(), source)]


def snippet_block(name: str) -> Block:
    """The snippet ``name``, wherever it is; a clear error if it is missing or given twice."""
    found = blocks()
    named = [block for block in found if block.name == name]
    if len(named) != 1:
        known = sorted({block.name for block in found if block.name})
        what = "no" if not named else f"{len(named)}"
        raise LookupError(f"README.md and docs/ have {what} snippet {name!r}; snippets: {known}")
    return named[0]


def snippet(name: str) -> str:
    """The text of the snippet ``name``."""
    return snippet_block(name).text


def compile_snippet(name: str) -> types.CodeType:
    """The Python snippet ``name``, compiled so that tracebacks show its file's lines.

    Before Django 6 it imports the ``django-tasks`` backport as the docs say:
    ``from django_tasks import ...`` for ``from django.tasks import ...``.
    """
    block = snippet_block(name)
    text = block.text
    if django.VERSION < (6,):
        text = text.replace("from django.tasks import", "from django_tasks import")
    return compile("\n" * (block.line - 1) + text, str(block.path), "exec")


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
    module.__file__ = str(snippet_block(name).path)
    sys.modules[module_name] = module
    exec_snippet(name, module.__dict__)
    return module


def table(*header: str, page: str | None = None) -> list[list[str]]:
    """The body rows of the Markdown table whose header cells are ``header``: the one table
    of the README and the docs with that header, or the one of ``page`` (``docs/...``)."""
    paths = [REPO_ROOT / page] if page else sources()
    found: list[tuple[Path, list[list[str]]]] = []
    for path in paths:
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            if _cells(line) == list(header):
                rows = []
                for row in lines[index + 2 :]:
                    if not row.startswith("|"):
                        break
                    rows.append(_cells(row))
                found.append((path, rows))
    if len(found) != 1:
        where = [str(path.relative_to(REPO_ROOT)) for path, _ in found]
        raise LookupError(f"expected one table with the header {list(header)}; found {where}")
    return found[0][1]


def _cells(line: str) -> list[str]:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return []
    return [cell.strip() for cell in line[1:-1].split("|")]
