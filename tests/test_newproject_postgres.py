"""docs/how-to/postgres-only.md followed on the tutorial's brand-new project: the wheel with
its ``postgres-only`` extra in a fresh virtualenv (no channels-redis, no Redis anywhere),
the page's two snippets after the tutorial's settings, a database of its own on the
machine's PostgreSQL, ``migrate``, the documented worker command and daphne; Chromium
opens the tutorial's page as a user who just logged in and sees the task end.
"""

from __future__ import annotations

import os
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.building import Dists, dists  # noqa: F401  (the fixture)
from tests.readme_snippets import REPO_ROOT, blocks, snippet
from tests.services import Service, free_port
from tests.test_newproject import (
    NewProject,
    _append,
    _apply_tutorial,
    _env,
    _login_cookie,
    _open_page,
    _python,
    _run_commands,
    _tasks_of,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.timeout(600),
    # The new project has its own database on the machine's PostgreSQL: one run is enough,
    # in the pass whose lane has the time.
    pytest.mark.skipif(
        os.environ.get("TASK_API_TEST_DB") != "postgres",
        reason="independent of the test database; runs in the PostgreSQL pass",
    ),
]

PAGE = REPO_ROOT / "docs" / "how-to" / "postgres-only.md"
NOWHERE = "redis://127.0.0.1:9/0"  # the tutorial's Redis, which nothing may reach


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A fresh virtualenv with the wheel, the page's extra and daphne."""
    import subprocess

    directory = tmp_path_factory.mktemp("venv-postgres-only")
    subprocess.run([_python(), "-m", "venv", str(directory)], check=True, timeout=120)
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"{dists.wheel}[postgres-only,daphne]"], check=True, timeout=500)
    return directory / "bin"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A new database on the machine's PostgreSQL, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"newproject_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _worker_command() -> list[str]:
    (block,) = [b for b in blocks(path=PAGE) if b.lang == "sh" and "procrastinate worker" in b.text]
    return shlex.split(block.text)


def test_the_page_on_a_new_project_runs_a_task_live_without_redis(
    venv: Path, database: str, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("newproject-postgres")
    env = {
        **_env(venv, folder),
        "POSTGRES_DB": database,
        "POSTGRES_HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "POSTGRES_PORT": os.environ.get("PGPORT", "5432"),
        "POSTGRES_USER": os.environ.get("PGUSER", "postgres"),
    }
    root = _run_commands(snippet("startproject"), folder, venv, env)
    _apply_tutorial(root, NOWHERE)
    settings = root / "myproject" / "settings.py"
    _append(settings, snippet("postgres-only-database") + "\n" + snippet("postgres-only-settings"))
    project = NewProject(root=root, bin=venv, env=env)
    checks = project.run("python", "manage.py", "check")
    assert "System check identified no issues" in checks, checks
    shown = project.run(
        "python",
        "manage.py",
        "shell",
        "-c",
        "from django.conf import settings; from django.db import connection; "
        "print(connection.vendor, settings.CHANNEL_LAYERS['default']['BACKEND'])",
    )
    assert "postgresql task_api.backends.postgres_layer.PostgresChannelLayer" in shown, shown
    _run_commands(snippet("migrate"), root, venv, env)

    worker_argv = _worker_command()
    assert worker_argv[:3] == ["python", "manage.py", "procrastinate"]
    worker = Service(
        "worker",
        [str(venv / worker_argv[0]), *worker_argv[1:]],
        log_path=root / "worker.log",
        ready=lambda: True,  # a new project logs nothing at INFO: the page waits for it
        env=env,
        cwd=root,
    )
    port = free_port()
    daphne = project.service(
        "daphne", ["daphne", "-b", "127.0.0.1", "-p", str(port), "myproject.asgi:application"], port
    )
    worker.start(timeout=60)
    try:
        daphne.start(timeout=60)
        try:
            _open_page(browser, f"http://127.0.0.1:{port}", _login_cookie(project, "pg-user"))
            assert _tasks_of(project, "pg-user") == [("succeeded", "False", "{'waited': 3}")]
            served = daphne.log_path.read_text()
            assert "WSCONNECT /ws/tasks/" in served, served
            assert "Traceback" not in served, served
        finally:
            daphne.stop()
    finally:
        worker.stop()
    assert "Traceback" not in worker.log_path.read_text(), worker.log_path.read_text()
