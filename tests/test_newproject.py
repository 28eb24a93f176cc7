"""The README's "Add it to your project", followed literally on a brand-new project.

The wheel is installed into a fresh virtualenv, ``django-admin startproject``
makes the project, and the README's snippets (read from README.md) are applied
where the README says. Then daphne (or ``runserver``), a Celery worker and
redis-server serve it, and Chromium opens the page: anonymously, and as a
user who just logged in and has no ``csrftoken`` cookie yet.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.building import Dists, dists  # noqa: F401  (the fixture)
from tests.readme_snippets import snippet
from tests.services import RedisServer, Service, _http_answers, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.timeout(600),
    # The new project has its own SQLite database whatever the suite's is: one run is enough.
    pytest.mark.skipif(
        os.environ.get("TASK_API_TEST_DB") == "postgres",
        reason="independent of the test database; runs in the SQLite pass",
    ),
]

README_REDIS = "redis://127.0.0.1:6379/0"
TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class NewProject:
    """A project made by startproject in ``root``, run with the virtualenv's ``bin``."""

    root: Path
    bin: Path
    env: dict[str, str]

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def service(self, name: str, argv: list[str], port: int | None = None) -> Service:
        log_path = self.root / f"{name}.log"
        if port is not None:
            ready = functools.partial(_http_answers, f"http://127.0.0.1:{port}/wait/")
        else:
            ready = functools.partial(_log_says, log_path, " ready.")
        argv = [str(self.bin / argv[0]), *argv[1:]]
        return Service(name, argv, log_path=log_path, ready=ready, env=self.env, cwd=self.root)


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A fresh virtualenv with the wheel and the README's extras installed."""
    directory = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True, timeout=120)
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"{dists.wheel}[redis,daphne]"], check=True, timeout=500)
    return directory / "bin"


def _apply_readme(root: Path, redis_url: str) -> None:
    """The README's snippets, where the README puts them."""
    (root / "myapp" / "background.py").write_text(snippet("task"))
    settings = root / "myproject" / "settings.py"
    added = snippet("settings").replace(README_REDIS, redis_url)
    assert added != snippet("settings"), "the settings snippet no longer names its Redis URL"
    settings.write_text(settings.read_text() + "\n" + added + "\n" + snippet("settings-sqlite"))
    (root / "myapp" / "views.py").write_text(snippet("view"))
    template = root / "myapp" / "templates" / "myapp" / "wait.html"
    template.parent.mkdir(parents=True)
    template.write_text(snippet("page"))
    (root / "myproject" / "urls.py").write_text(snippet("urls"))
    (root / "myproject" / "asgi.py").write_text(snippet("asgi"))
    (root / "myproject" / "celery.py").write_text(snippet("celery"))
    init = root / "myproject" / "__init__.py"
    init.write_text(init.read_text() + snippet("celery-init"))


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of its own: the test project's worker must not take the new project's tasks."""
    server = RedisServer(tmp_path_factory.mktemp("newproject-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(
    venv: Path, own_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> NewProject:
    root = tmp_path_factory.mktemp("newproject")
    env = {"PATH": f"{venv}:/usr/bin:/bin", "HOME": str(root), "PYTHONUNBUFFERED": "1"}
    made = NewProject(root=root, bin=venv, env=env)
    made.run("django-admin", "startproject", "myproject", str(root))
    for line in snippet("startapp").splitlines():
        made.run(*shlex.split(line))
    _apply_readme(root, own_redis.url)
    checks = made.run("python", "manage.py", "check")
    assert "System check identified no issues" in checks, checks
    made.run("python", "manage.py", "migrate", "-v", "0")
    return made


def _login_cookie(project: NewProject, username: str) -> str:
    """A session id of a user who just logged in (and so has no csrftoken cookie)."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        f"user = get_user_model().objects.create_user({username!r}, password='pw')\n"
        "s = SessionStore()\n"
        "s['_auth_user_id'] = str(user.pk)\n"
        "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s['_auth_user_hash'] = user.get_session_auth_hash()\n"
        "s.create()\n"
        "print('SESSION', s.session_key)\n"
    )
    out = project.run("python", "manage.py", "shell", "-c", code)
    return next(line.split()[1] for line in out.splitlines() if line.startswith("SESSION "))


def _tasks_of(project: NewProject, username: str | None) -> list[tuple[str, str, dict[str, int]]]:
    who = f"owner__username={username!r}" if username else "owner__isnull=True"
    code = (
        "from task_api.models import TaskRecord\n"
        f"for r in TaskRecord.objects.filter({who}):\n"
        "    print('TASK', r.status, bool(r.session_key), r.outputs)\n"
    )
    out = project.run("python", "manage.py", "shell", "-c", code)
    return [tuple(line.split(" ", 3)[1:]) for line in out.splitlines() if line.startswith("TASK ")]  # type: ignore[misc]


def _open_page(browser: Browser, url: str, session: str | None = None) -> list[str]:
    """Open the page, wait for its result; the cookies the page ended with."""
    context = browser.new_context(base_url=url)
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["local-network-access"], origin=url)
    if session:
        context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/wait/")
        expect(page.locator("#result")).to_have_text("Waited 3 s", timeout=TIMEOUT_MS)
        assert page.eval_on_selector("#bar", "bar => [bar.value, bar.max]") == [3, 3]
        assert errors == []
        return sorted(cookie["name"] for cookie in context.cookies())
    finally:
        context.close()


@pytest.fixture
def running(project: NewProject) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def _start(running: list[Service], service: Service) -> Service:
    running.append(service)
    service.start(timeout=60)
    return service


def test_readme_project_on_celery_and_redis(
    project: NewProject, browser: Browser, running: list[Service]
) -> None:
    port = free_port()
    daphne = ["daphne", "-b", "127.0.0.1", "-p", str(port), "myproject.asgi:application"]
    _start(
        running, project.service("celery", ["celery", "-A", "myproject", "worker", "-l", "info"])
    )
    _start(running, project.service("daphne", daphne, port))
    url = f"http://127.0.0.1:{port}"
    # The static file under daphne, as the page loads it.
    with urllib.request.urlopen(f"{url}/static/django-task-api.min.js", timeout=10) as answer:
        assert answer.status == 200
        assert b"TaskAPI" in answer.read()
    # Anonymous (DRF's AllowAny): the task is the visitor's session's.
    assert "csrftoken" in _open_page(browser, url)
    # A user who just logged in, with no csrftoken cookie: the view sets it.
    assert "csrftoken" in _open_page(browser, url, _login_cookie(project, "carol"))
    assert _tasks_of(project, "carol") == [("succeeded", "False", "{'waited': 3}")]
    assert ("succeeded", "True", "{'waited': 3}") in _tasks_of(project, None)
    # The worker ran them.
    assert (project.root / "celery.log").read_text().count("succeeded in") == 2


def test_readme_project_without_redis(
    project: NewProject, browser: Browser, running: list[Service]
) -> None:
    settings = project.root / "myproject" / "settings.py"
    before = settings.read_text()
    settings.write_text(before + "\n" + snippet("settings-inprocess"))
    try:
        for server in ("daphne", "runserver"):
            port = free_port()
            if server == "daphne":
                argv = ["daphne", "-b", "127.0.0.1", "-p", str(port), "myproject.asgi:application"]
            else:
                argv = ["python", "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
            service = _start(running, project.service(server, argv, port))
            _open_page(browser, f"http://127.0.0.1:{port}", _login_cookie(project, f"u-{server}"))
            assert _tasks_of(project, f"u-{server}") == [("succeeded", "False", "{'waited': 3}")]
            service.stop()
    finally:
        settings.write_text(before)


def test_readme_project_on_the_pubsub_layer(
    project: NewProject, own_redis: RedisServer, browser: Browser, running: list[Service]
) -> None:
    """The README's pub/sub layer snippet, added after the settings: no check warns,
    and the page gets its result through a worker and daphne on that layer."""
    settings = project.root / "myproject" / "settings.py"
    before = settings.read_text()
    layer = snippet("pubsub-layer").replace(README_REDIS, own_redis.url)
    assert layer != snippet("pubsub-layer"), "the pub/sub snippet no longer names its Redis URL"
    settings.write_text(before + "\n" + layer)
    try:
        checks = project.run("python", "manage.py", "check")
        assert "System check identified no issues" in checks, checks
        code = "from django.conf import settings; print(settings.CHANNEL_LAYERS)"
        assert "RedisPubSubChannelLayer" in project.run("python", "manage.py", "shell", "-c", code)
        worker = ["celery", "-A", "myproject", "worker", "-l", "info"]
        _start(running, project.service("celery-pubsub", worker))
        port = free_port()
        daphne = ["daphne", "-b", "127.0.0.1", "-p", str(port), "myproject.asgi:application"]
        _start(running, project.service("daphne-pubsub", daphne, port))
        _open_page(browser, f"http://127.0.0.1:{port}", _login_cookie(project, "pubsub-user"))
        assert _tasks_of(project, "pubsub-user") == [("succeeded", "False", "{'waited': 3}")]
    finally:
        settings.write_text(before)
