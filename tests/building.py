"""The package's wheel and sdist, built once per test session from this checkout."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dists:
    """Paths of the built wheel and sdist, and the Python that has hatchling."""

    wheel: Path
    sdist: Path
    builder: Path


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """Build the sdist and the wheel with hatchling, in a virtualenv of their own."""
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import sys, hatchling.build as b; b.build_sdist(sys.argv[1]); b.build_wheel(sys.argv[1])"
    )
    env_dir = tmp_path_factory.mktemp("build-env")
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "hatchling>=1.27"], check=True, timeout=300
    )
    subprocess.run([str(python), "-c", code, str(out)], cwd=REPO_ROOT, check=True, timeout=120)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist, builder=python)
