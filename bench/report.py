"""The machine and software a run measured, and the results section of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from .processes import REPO_ROOT

BENCHMARKS = REPO_ROOT / "BENCHMARKS.md"
START = "<!-- results: written by `python -m bench --write` -->"
END = "<!-- end of results -->"
PACKAGES = (
    "Django",
    "djangorestframework",
    "channels",
    "channels-redis",
    "daphne",
    "celery",
    "redis",
    "websockets",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _redis_server() -> str:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError:
        return "unknown"
    version = [part for part in out.split() if part.startswith("v=")]
    return version[0][2:] if version else out.strip()


def interpreter() -> str:
    """The running Python, relative to the repository when it lives there (``.venv``)."""
    path = Path(sys.executable)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(command: str, seconds: float, repeats: int) -> list[tuple[str, str]]:
    """What was measured where, as (name, value) pairs."""
    software = [("Python", platform.python_version())]
    software += [(name, _version(name)) for name in PACKAGES]
    software.append(("redis-server", _redis_server()))
    return [
        ("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Command", f"`{command}`"),
        ("Repeats", f"{repeats} per scenario (table: medians)"),
        ("Run time", f"{seconds:.0f} s"),
        ("Machine", f"{os.cpu_count()} cores (`nproc`), {_memory()}, {_cpu_model()}"),
        ("Software", ", ".join(f"{name} {version}" for name, version in software)),
    ]


def results_section(table: str, env: list[tuple[str, str]]) -> str:
    """The generated part of BENCHMARKS.md."""
    lines = [START, "", table, "", *(f"- {name}: {value}" for name, value in env), "", END]
    return "\n".join(lines)


def write(section: str) -> Path:
    """Replace the results section of BENCHMARKS.md (or append it)."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n\n## Results\n\n"
    if START in text and END in text:
        before, _, rest = text.partition(START)
        _, _, after = rest.partition(END)
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
    return BENCHMARKS
