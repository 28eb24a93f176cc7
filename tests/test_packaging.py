"""What the Python and npm packages hold, and their metadata."""

from __future__ import annotations

import email
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from tests.building import Dists, dists  # noqa: F401  (the fixture)

REPO_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/django-task-api/django-task-api"


def _tracked(under: str) -> set[str]:
    """Files of this checkout under ``under`` that git tracks."""
    out = subprocess.run(
        ["git", "ls-files", under], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {line for line in out.splitlines() if (REPO_ROOT / line).exists()}


def test_wheel_holds_the_package_and_licence(dists: Dists) -> None:  # noqa: F811
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(wheel.read(info))
    package = {n for n in names if not n.startswith("django_task_api-")}
    assert package == _tracked("task_api")
    assert "task_api/py.typed" in package
    assert "task_api/static/django-task-api.min.js" in package
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata["Requires-Python"] == ">=3.11"
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL") or [])
    assert urls["Repository"] == REPOSITORY
    assert urls["Issues"] == f"{REPOSITORY}/issues"
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Framework :: Django :: 5.2" in classifiers
    description = metadata.get_payload()
    assert isinstance(description, str)
    # Links that work on a package index page: no relative image paths.
    assert "](docs/" not in description
    assert (
        f"]({REPOSITORY.replace('github.com', 'raw.githubusercontent.com')}/main/docs/demo.png)"
        in (description)
    )


def test_sdist_holds_the_package_readme_and_licence_only(dists: Dists) -> None:  # noqa: F811
    with tarfile.open(dists.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    files = {name for name in names if not any(other.startswith(name + "/") for other in names)}
    expected = _tracked("task_api") | {"README.md", "LICENSE", "pyproject.toml", "PKG-INFO"}
    expected.add("hatch_build.py")  # drops the .gitignore that hatchling would add
    assert files == expected
    assert "static_src/README.md" not in files
    assert ".gitignore" not in files


def test_licence_is_bsd_3_clause() -> None:
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text
    assert (REPO_ROOT / "static_src" / "LICENSE").read_text() == text


def test_npm_pack_works_on_a_clean_checkout(tmp_path: Path) -> None:
    """Without node_modules (before ``npm ci``): the built files are committed."""
    assert shutil.which("npm"), "npm is needed (scripts/bootstrap --js)"
    checkout = tmp_path / "checkout"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", "static_src", "task_api/static"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    checkout.mkdir()
    subprocess.run(["tar", "-x"], input=archive, cwd=checkout, check=True)
    # The working tree's package files, so that the test checks uncommitted changes too.
    for name in ("package.json", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / "static_src" / name, checkout / "static_src" / name)
    done = subprocess.run(
        ["npm", "pack", "--dry-run", "--json", "--ignore-scripts=false"],
        cwd=checkout / "static_src",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (packed,) = json.loads(done.stdout)
    files = sorted(entry["path"] for entry in packed["files"])
    assert files == [
        "LICENSE",
        "README.md",
        "dist/batch.cjs",
        "dist/batch.d.cts",
        "dist/batch.d.mts",
        "dist/batch.mjs",
        "dist/index.cjs",
        "dist/index.d.cts",
        "dist/index.d.mts",
        "dist/index.mjs",
        "package.json",
    ]
    assert not (checkout / "static_src" / "node_modules").exists()


def test_packed_tarballs_are_ignored_by_git() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "-q", "static_src/django-task-api-2.0.0.tgz"],
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0


def test_the_files_the_dockerfile_copies_build_the_wheel(dists: Dists, tmp_path: Path) -> None:  # noqa: F811
    """The image installs the package from what it copies before ``pip install``."""
    lines = (REPO_ROOT / "Dockerfile").read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install"))
    for line in lines[:install]:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                path = REPO_ROOT / source
                if path.is_dir():
                    shutil.copytree(
                        path, tmp_path / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(path, tmp_path / source)
    code = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [str(dists.builder), "-c", code, str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "out" / done.stdout.strip()) as wheel:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
