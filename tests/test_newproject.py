"""The tutorial (docs/tutorial.md) and the README's quickstart, followed literally on
brand-new projects.

The wheel is installed into a fresh virtualenv, the tutorial's commands make the project
(``django-admin startproject``, ``startapp``, ``migrate``, ``createsuperuser``), and its
snippets are applied where it says. Then daphne (or ``runserver``), a Celery worker and
redis-server serve it, and Chromium opens the pages: through the admin's login form, and as
a user who just logged in and has no ``csrftoken`` cookie yet; then the ``@task`` function's
page and the batch page of the tutorial's next steps. The quickstart's project is served by
``runserver`` and its ``curl`` commands run as written.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.building import Dists, dists  # noqa: F401  (the fixture)
from tests.readme_snippets import REPO_ROOT, blocks, snippet
from tests.services import RedisServer, Service, _http_answers, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

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

TUTORIAL_REDIS = "redis://127.0.0.1:6379/0"
ADMIN = ("admin", "admin-password")
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


def _python() -> str:
    """The newest Python 3.12+ that runs (Django 6, for the tutorial's ``@task`` function),
    else this one. A pyenv shim of a version that is not selected fails to run: skipped."""
    check = "import sys; sys.exit(sys.version_info < (3, 12))"
    for name in ("python3.14", "python3.13", "python3.12"):
        found = shutil.which(name)
        if found and subprocess.run([found, "-c", check], capture_output=True).returncode == 0:
            return found
    return sys.executable


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A fresh virtualenv with the wheel and the tutorial's extras installed."""
    directory = tmp_path_factory.mktemp("venv")
    subprocess.run([_python(), "-m", "venv", str(directory)], check=True, timeout=120)
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"{dists.wheel}[redis,daphne]"], check=True, timeout=500)
    return directory / "bin"


def _run_commands(block: str, cwd: Path, venv: Path, env: dict[str, str]) -> Path:
    """Run a shell snippet's commands as a reader types them; the folder it ends in.

    The virtualenv and its packages are the fixture's (the wheel, not the package index);
    ``createsuperuser`` gets the answers it would ask for from its environment.
    """
    for line in block.splitlines():
        argv = shlex.split(line)
        if argv[:3] == ["python3", "-m", "venv"] or argv[0] == ".":
            continue  # the virtualenv is the fixture's, activated by PATH
        if argv[0] == "pip":
            assert argv[1:2] == ["install"], line
            assert argv[2].startswith("django-task-api"), line
            continue  # the wheel of this checkout is installed
        if argv[0] == "cd":
            cwd = cwd / argv[1]
            continue
        if argv[-1] == "createsuperuser":
            username, password = ADMIN
            argv += ["--noinput", "--username", username, "--email", f"{username}@example.com"]
            env = {**env, "DJANGO_SUPERUSER_PASSWORD": password}
        done = subprocess.run(
            [str(venv / argv[0]), *argv[1:]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{line}: {done.stdout}\n{done.stderr}"
    return cwd


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text)


def _apply_tutorial(root: Path, redis_url: str) -> None:
    """The tutorial's first step, where it puts each snippet."""
    _write(root / "myapp" / "background.py", snippet("task"))
    settings = root / "myproject" / "settings.py"
    added = snippet("settings").replace(TUTORIAL_REDIS, redis_url)
    assert added != snippet("settings"), "the settings snippet no longer names its Redis URL"
    _append(settings, added + "\n" + snippet("settings-sqlite") + "\n" + snippet("settings-login"))
    _write(root / "myapp" / "views.py", snippet("view"))
    _write(root / "myapp" / "templates" / "myapp" / "wait.html", snippet("page"))
    _write(root / "myproject" / "urls.py", snippet("urls"))
    _write(root / "myproject" / "asgi.py", snippet("asgi"))
    _write(root / "myproject" / "celery.py", snippet("celery"))
    _append(root / "myproject" / "__init__.py", snippet("celery-init"))


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of its own: the test project's worker must not take the new project's tasks."""
    server = RedisServer(tmp_path_factory.mktemp("newproject-redis"))
    server.start()
    yield server
    server.stop()


def _env(venv: Path, home: Path) -> dict[str, str]:
    return {"PATH": f"{venv}:/usr/bin:/bin", "HOME": str(home), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def project(
    venv: Path, own_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> NewProject:
    folder = tmp_path_factory.mktemp("newproject")
    env = _env(venv, folder)
    root = _run_commands(snippet("startproject"), folder, venv, env)
    assert (root / "manage.py").is_file()
    assert (root / "myapp").is_dir()
    _apply_tutorial(root, own_redis.url)
    made = NewProject(root=root, bin=venv, env=env)
    checks = made.run("python", "manage.py", "check")
    assert "System check identified no issues" in checks, checks
    _run_commands(snippet("migrate"), root, venv, env)
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
        f"for r in TaskRecord.objects.filter({who}).order_by('id'):\n"
        "    print('TASK', r.status, bool(r.session_key), r.outputs)\n"
    )
    out = project.run("python", "manage.py", "shell", "-c", code)
    return [tuple(line.split(" ", 3)[1:]) for line in out.splitlines() if line.startswith("TASK ")]  # type: ignore[misc]


def _context(browser: Browser, url: str, session: str | None = None) -> BrowserContext:
    context = browser.new_context(base_url=url)
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["local-network-access"], origin=url)
    if session:
        context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    return context


def _log_in_through_the_admin(page: Page, path: str) -> None:
    """Open ``path``: sent to the admin's login by ``LOGIN_URL``, log in, and be back."""
    page.goto(path)
    assert page.url.endswith(f"/admin/login/?next={path}"), page.url
    username, password = ADMIN
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{path}")


def _open_page(
    browser: Browser, url: str, session: str | None = None, *, log_in: bool = False
) -> list[str]:
    """Open the wait page, wait for its result; the cookies the page ended with."""
    context = _context(browser, url, session)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if log_in:
            _log_in_through_the_admin(page, "/wait/")
        else:
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


def _serve_on_celery(project: NewProject, running: list[Service], name: str) -> str:
    """A worker and daphne for the project, as the tutorial starts them; daphne's URL."""
    block = [shlex.split(line) for line in snippet_text_of_run().splitlines()]
    daphne, worker = block
    port = free_port()
    _start(running, project.service(f"celery-{name}", worker))
    argv = [daphne[0], "-b", "127.0.0.1", "-p", str(port), *daphne[1:]]
    _start(running, project.service(f"daphne-{name}", argv, port))
    return f"http://127.0.0.1:{port}"


def snippet_text_of_run() -> str:
    """The tutorial's ``daphne ...`` and ``celery ...`` commands."""
    (block,) = [
        b
        for b in blocks(path=REPO_ROOT / "docs" / "tutorial.md")
        if b.lang == "sh" and b.text.startswith("daphne ")
    ]
    return block.text


def test_tutorial_on_celery_and_redis(
    project: NewProject, browser: Browser, running: list[Service]
) -> None:
    url = _serve_on_celery(project, running, "first")
    # The static file under daphne, as the page loads it.
    with urllib.request.urlopen(f"{url}/static/django-task-api.min.js", timeout=10) as answer:
        assert answer.status == 200
        assert b"TaskAPI" in answer.read()
    # A visitor is sent to the admin's login; the user createsuperuser made logs in.
    assert "csrftoken" in _open_page(browser, url, log_in=True)
    assert _tasks_of(project, ADMIN[0]) == [("succeeded", "False", "{'waited': 3}")]
    # A user who just logged in, with no csrftoken cookie: the view sets it.
    assert "csrftoken" in _open_page(browser, url, _login_cookie(project, "carol"))
    assert _tasks_of(project, "carol") == [("succeeded", "False", "{'waited': 3}")]
    # Anonymous clients cannot start tasks (IsAuthenticated), and the worker ran both.
    request = urllib.request.Request(f"{url}/tasks/", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert _tasks_of(project, None) == []
    assert (project.root / "celery-first.log").read_text().count("succeeded in") == 2


def test_tutorial_without_redis(
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


def test_tutorial_on_the_pubsub_layer(
    project: NewProject, own_redis: RedisServer, browser: Browser, running: list[Service]
) -> None:
    """The pub/sub layer snippet, added after the settings: no check warns, and the page
    gets its result through a worker and daphne on that layer."""
    settings = project.root / "myproject" / "settings.py"
    before = settings.read_text()
    layer = snippet("pubsub-layer").replace(TUTORIAL_REDIS, own_redis.url)
    assert layer != snippet("pubsub-layer"), "the pub/sub snippet no longer names its Redis URL"
    settings.write_text(before + "\n" + layer)
    try:
        checks = project.run("python", "manage.py", "check")
        assert "System check identified no issues" in checks, checks
        code = "from django.conf import settings; print(settings.CHANNEL_LAYERS)"
        assert "RedisPubSubChannelLayer" in project.run("python", "manage.py", "shell", "-c", code)
        url = _serve_on_celery(project, running, "pubsub")
        _open_page(browser, url, _login_cookie(project, "pubsub-user"))
        assert _tasks_of(project, "pubsub-user") == [("succeeded", "False", "{'waited': 3}")]
    finally:
        settings.write_text(before)


def test_tutorial_function_and_batch(
    project: NewProject, browser: Browser, running: list[Service]
) -> None:
    """The tutorial's second and third steps on top of the first: the ``@task`` function's
    page, then the batch page, through the admin's login."""
    version = project.run("python", "-c", "import django; print(django.VERSION[0])")
    if int(version) < 6:
        pytest.skip(f"the @task function needs Django 6; the new project has {version.strip()}")
    root = project.root
    changed = [
        root / "myproject" / "settings.py",
        root / "myapp" / "views.py",
        root / "myproject" / "urls.py",
    ]
    before = {path: path.read_text() for path in changed}
    try:
        _append(root / "myproject" / "settings.py", snippet("settings-tasks"))
        _write(root / "myapp" / "tasks.py", snippet("django-task"))
        _write(root / "myapp" / "views.py", snippet("django-view"))
        _write(root / "myapp" / "templates" / "myapp" / "countdown.html", snippet("django-page"))
        _write(root / "myproject" / "urls.py", snippet("urls-countdown"))
        checks = project.run("python", "manage.py", "check")
        assert "System check identified no issues" in checks, checks
        _write(root / "myapp" / "templates" / "myapp" / "batch.html", snippet("batch-page"))
        _write(root / "myproject" / "urls.py", snippet("urls-batch"))
        url = _serve_on_celery(project, running, "steps")
        context = _context(browser, url)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            _log_in_through_the_admin(page, "/countdown/")
            expect(page.locator("#status")).to_have_text("Done: 3", timeout=TIMEOUT_MS)
            assert page.eval_on_selector("#bar", "bar => [bar.value, bar.max]") == [3, 3]
            page.goto("/batch/")
            items = page.locator("#results li")
            expect(items).to_have_count(3, timeout=2 * TIMEOUT_MS)
            assert items.all_text_contents() == [
                "a.csv: succeeded",
                "b.csv: succeeded",
                "c.csv: succeeded",
            ]
            expect(page.locator("#status")).to_have_text("3 of 3 done")
            assert page.eval_on_selector("#bar", "bar => [bar.value, bar.max]") == [6, 6]
            assert errors == []
        finally:
            context.close()
        ran = _tasks_of(project, ADMIN[0])
        assert ("succeeded", "False", "{'return_value': 3}") in ran
        assert ran.count(("succeeded", "False", "{'waited': 2}")) == 3
    finally:
        for path, text in before.items():
            path.write_text(text)


def test_quickstart_runs_as_written(venv: Path, tmp_path: Path, running: list[Service]) -> None:
    """The README's quickstart in a project of its own: ``runserver`` and ``curl``."""
    env = _env(venv, tmp_path)
    root = _run_commands(snippet("quickstart-setup"), tmp_path, venv, env)
    _write(root / "myproject" / "tasks.py", snippet("quickstart-task"))
    _append(root / "myproject" / "settings.py", snippet("quickstart-settings"))
    _append(root / "myproject" / "urls.py", snippet("quickstart-urls"))
    migrate, runserver = snippet("quickstart-run").splitlines()
    _run_commands(migrate, root, venv, env)
    port = free_port()
    argv = [*shlex.split(runserver), f"127.0.0.1:{port}", "--noreload"]
    service = Service(
        "quickstart",
        [str(venv / argv[0]), *argv[1:]],
        log_path=root / "runserver.log",
        ready=functools.partial(_http_answers, f"http://127.0.0.1:{port}/tasks/"),
        env=env,
        cwd=root,
    )
    _start(running, service)
    start, listing = snippet("quickstart-curl").replace(":8000/", f":{port}/").splitlines()
    assert shutil.which("curl"), "curl is needed"

    def curl(line: str) -> dict[str, Any]:
        done = subprocess.run(
            ["bash", "-c", line], cwd=root, capture_output=True, text=True, timeout=30, check=True
        )
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    started = curl(start)
    assert (started["task"], started["status"]) == ("add", "pending")
    for _ in range(50):
        (task,) = curl(listing)["results"]
        if task["status"] == "succeeded":
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert (task["uuid"], task["status"], task["outputs"]) == (
        started["uuid"],
        "succeeded",
        {"sum": 5},
    )
