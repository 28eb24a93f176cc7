"""The demo as a newcomer meets it: ``scripts/demo``, the page in a browser,
the Celery + Redis configuration, and the full-stack compose file.

The demo runs in child processes with its own settings (``demo.settings``);
its modules are never imported here, since importing the ``demo`` package
would make its Celery app the current one in the test process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from task_api.checks import SQLITE_OPTIONS
from tests import passes
from tests.services import REPO_ROOT, RedisServer, Service, ServiceError, child_pids, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEMO_SCRIPT = REPO_ROOT / "scripts" / "demo"
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
SCREENSHOT = REPO_ROOT / "docs" / "demo.png"
URL_LINE = re.compile(r"running at (http://\S+?)/?\s*$", re.MULTILINE)
# The first run of scripts/demo may install the virtualenv.
DEMO_START_TIMEOUT = 240.0
UI_TIMEOUT_MS = 20_000
FUNCTION = "demo.functions.convert_temperatures"


def _load(name: str, path: Path) -> ModuleType:
    """Import one module of the demo by path, without the ``demo`` package."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_env_module() -> ModuleType:
    return _load("_demo_env", REPO_ROOT / "demo" / "env.py")


def demo_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """A newcomer's environment: no settings module, service URLs or test variables."""
    dropped = ("DJANGO_", "TASK_API_", "DEMO_", "CELERY_")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(dropped) and key not in ("REDIS_URL", "DATABASE_URL", "PYTHONPATH")
    }
    env.update({"DEMO_VAR": str(var_dir), "DEMO_PORT": str(free_port())})
    env.update(extra)
    return env


class DemoServer(Service):
    """``scripts/demo`` in a process group of its own; ready once it prints its URL."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(
            "scripts/demo", [str(DEMO_SCRIPT)], log_path=log_path, ready=self._ready, env=env
        )
        self.url = ""

    def _ready(self) -> bool:
        match = URL_LINE.search(self.log_path.read_text(errors="replace"))
        if match:
            self.url = match.group(1)
        return bool(match)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class DemoWorker(Service):
    """``celery -A demo worker``, as the README tells a newcomer to start it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        argv = [str(VENV_PYTHON), "-m", "celery", "-A", "demo", "worker", "--loglevel=INFO"]
        argv += ["--concurrency=2", "--without-gossip", "--without-mingle", "-n", "demo-test@%h"]
        super().__init__("demo worker", argv, log_path=log_path, ready=self._ready, env=env)

    def _ready(self) -> bool:
        return " ready." in self.log_path.read_text(errors="replace")


def _start(service: Service, timeout: float) -> None:
    try:
        service.start(timeout=timeout)
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Any]:
    """Start ``scripts/demo`` with extra environment; stopped at the end of the test."""
    started: list[Service] = []

    def start(**extra: str) -> DemoServer:
        if not os.access(DEMO_SCRIPT, os.X_OK):
            pytest.fail(f"{DEMO_SCRIPT} is missing or not executable", pytrace=False)
        var_dir = tmp_path / f"var{len(started)}"
        server = DemoServer(
            demo_environment(var_dir, **extra), tmp_path / f"demo{len(started)}.log"
        )
        started.append(server)
        _start(server, DEMO_START_TIMEOUT)
        return server

    yield start
    for service in reversed(started):
        service.stop()


def _assert_stopped(server: DemoServer) -> None:
    """After ``stop()`` nothing answers on the demo's port any more."""
    port = int(server.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.1)
    pytest.fail(f"the demo still answers on port {port} after it was stopped")


# -- in the browser -----------------------------------------------------------------


# A form built for a synthetic entry (not shown), filled in, and read.
DICT_FORM = """async () => {
    const { buildForm, readInputs } = await import('/static/demo/schema-form.js')
    const schema = {type: 'object', required: ['anything'], properties: {
        weights: {type: 'object', additionalProperties: {type: 'number'}, default: {a: 1.5}},
        anything: {type: 'object', additionalProperties: true},
        nested: {type: 'array', items: {type: 'array', items: {type: 'integer'}}},
    }}
    const form = buildForm({name: 'dicts', title: 'Dicts', description: '', inputs: schema})
    const fill = (name, key, value) => {
        form.querySelector(`[name="${name}"] [data-action="add-row"]`).click()
        const row = [...form.querySelectorAll(`[name="${name}"] .row`)].at(-1)
        row.querySelector('.row-key').value = key
        row.querySelector('.row-value').value = value
    }
    fill('weights', 'b', '2')
    form.querySelector('[name="anything"] [data-action="remove-row"]').click()
    fill('anything', 'n', '3')
    fill('anything', 's', 'hi')
    const kinds = [...form.querySelectorAll('[data-kind]')].map((control) => control.dataset.kind)
    return { inputs: readInputs(form, schema).inputs, kinds }
}"""


def run_task(page: Page, task: str, **inputs: str) -> None:
    """Fill a task's form and press its Run button."""
    form = page.locator(f'form[data-task="{task}"]')
    for name, value in inputs.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator("button[type=submit]").click()


def record_frames(page: Page) -> list[dict[str, Any]]:
    """The frames the page receives over the task WebSocket, as they arrive."""
    frames: list[dict[str, Any]] = []

    def on_socket(socket: Any) -> None:
        if socket.url.endswith("/ws/tasks/"):
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def assert_pushed(frames: list[dict[str, Any]], task: str) -> None:
    """The task's progress reached the page as WebSocket updates, not by polling."""
    uuids = {f["uuid"] for f in frames if f.get("type") == "snapshot" and f["task"]["task"] == task}
    updates = [f for f in frames if f.get("type") == "update" and f["uuid"] in uuids]
    assert updates, f"no WebSocket update for {task}; frames: {frames[:5]}"
    assert not [f for f in frames if f.get("type") == "error"], frames


def wait_status(page: Page, task: str, status: str, timeout: int = UI_TIMEOUT_MS) -> None:
    page.wait_for_selector(f'.run[data-task="{task}"][data-status="{status}"]', timeout=timeout)


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(360)
def test_demo_runs_tasks_live_in_the_browser(start_demo: Any, page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # A port already in use is skipped for the next free one.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        demo = start_demo(DEMO_PORT=str(busy))
    assert not demo.url.endswith(f":{busy}"), demo.output
    assert f"port {busy} is taken" in demo.output
    assert "Tasks run in this process" in demo.output

    page.set_viewport_size({"width": 1360, "height": 1100})
    frames = record_frames(page)
    page.goto(demo.url + "/")
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#engine")).to_contain_text("In-process threads · SQLite")
    for task in ("countdown", "primes", "word-stats", "report", "flaky", "long-job"):
        expect(page.locator(f'form[data-task="{task}"] button[type=submit]')).to_be_visible()
    # A @task function (the demo runs on Django 6), started from its form like the
    # classes, with inputs typed from its annotations: a row per number of its list.
    form = page.locator(f'form[data-task="{FUNCTION}"]')
    expect(form.locator("h3")).to_have_text("Convert temperatures")
    celsius = form.locator('[name="celsius"] .row-value')
    expect(celsius).to_have_count(1)
    celsius.nth(0).fill("0")
    for _ in range(2):
        form.locator('[data-action="add-row"]').click()
    celsius.nth(1).fill("100")
    form.locator('[data-action="remove-row"]').nth(2).click()
    expect(celsius).to_have_count(2)
    expect(form.locator(".call")).to_contain_text('{"celsius":[0,100],"unit":"fahrenheit"}')
    form.locator("button[type=submit]").click()
    wait_status(page, FUNCTION, "succeeded")
    expect(page.locator(f'.run[data-task="{FUNCTION}"] .run-title strong')).to_have_text(
        "Convert temperatures"
    )
    expect(page.locator(f'.run[data-task="{FUNCTION}"] .outputs')).to_contain_text("212")
    expect(page.locator(f'.run[data-task="{FUNCTION}"] .message')).to_have_count(2)
    page.locator(f'.run[data-task="{FUNCTION}"] [data-action="dismiss"]').click()
    expect(page.locator(".run")).to_have_count(0)
    # Dicts get key and value rows; shapes no control fits stay JSON text.
    assert page.evaluate(DICT_FORM) == {
        "inputs": {"weights": {"a": 1.5, "b": 2}, "anything": {"n": 3, "s": "hi"}},
        "kinds": ["dict", "dict", "json"],
    }

    # The countdown's progress bar moves live, then reaches 100% with the outputs.
    run_task(page, "countdown", seconds="2")
    bar = page.locator('.run[data-task="countdown"] .progress-bar')
    page.wait_for_function(
        """() => {
            const bar = document.querySelector('.run[data-task="countdown"] .progress-bar')
            const now = bar && Number(bar.getAttribute('aria-valuenow'))
            return now > 0 && now < 100
        }""",
        timeout=UI_TIMEOUT_MS,
    )
    wait_status(page, "countdown", "succeeded")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    outputs = page.locator('.run[data-task="countdown"] .outputs')
    expect(outputs).to_be_visible()
    expect(outputs).to_contain_text("Elapsed")
    expect(page.locator('.run[data-task="countdown"] .status')).to_have_text("Succeeded")
    assert_pushed(frames, "countdown")

    # Several tasks at once: messages, outputs, a failure and one still running.
    run_task(page, "word-stats")
    run_task(page, "primes", limit="5000000")
    run_task(page, "flaky", fail_at="40")
    run_task(page, "report", steps="9")
    run_task(page, "long-job", seconds="60")
    wait_status(page, "report", "succeeded")
    wait_status(page, "flaky", "failed")
    wait_status(page, "word-stats", "succeeded")
    wait_status(page, "primes", "succeeded")
    wait_status(page, "long-job", "running")
    expect(page.locator('.run[data-task="report"] .message[data-level="warning"]')).to_have_count(2)
    expect(page.locator('.run[data-task="report"] .message[data-level="error"]')).to_have_count(1)
    expect(page.locator('.run[data-task="flaky"] .error')).to_contain_text("ConnectionError")
    expect(page.locator('.run[data-task="primes"] .outputs')).to_contain_text("348,513")
    page.wait_for_function(
        """() => Number(document.querySelector('.run[data-task="long-job"] .progress-bar')
                 .getAttribute('aria-valuenow')) >= 3""",
        timeout=UI_TIMEOUT_MS,
    )
    page.evaluate("window.scrollTo(0, 0)")
    # UPDATE_SCREENSHOT=1 refreshes the README's picture; otherwise it is only taken.
    screenshot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "demo.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # After a reload the runs are back, and the unfinished one is followed again.
    page.reload()
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".run")).to_have_count(6)
    wait_status(page, "long-job", "running")
    expect(page.locator('.run[data-task="flaky"] .error')).to_contain_text("Payment service")

    # Cancel stops the long job.
    page.locator('.run[data-task="long-job"] [data-action="cancel"]').click()
    wait_status(page, "long-job", "cancelled")
    expect(page.locator('.run[data-task="long-job"] [data-action="cancel"]')).to_be_hidden()

    # A value out of range comes back as a 400 shown next to its field; no run starts.
    run_task(page, "countdown", seconds="0")
    error = page.locator('form[data-task="countdown"] .field-error[data-field="seconds"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("greater than or equal to 1")
    expect(page.locator('.run[data-task="countdown"]')).to_have_count(1)
    # Editing the field clears its error.
    page.locator('form[data-task="countdown"] [name="seconds"]').fill("3")
    expect(error).to_be_hidden()

    demo.stop()
    _assert_stopped(demo)


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(360)
def test_demo_runs_tasks_on_celery_with_redis(
    start_demo: Any, page: Page, redis_server: RedisServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # A database of its own on the shared Redis, so that no other worker takes the demo's tasks.
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    demo = start_demo(REDIS_URL=redis_url)
    hint = f"REDIS_URL={redis_url} .venv-demo/bin/celery -A demo worker -l info"
    assert hint in demo.output

    frames = record_frames(page)
    page.goto(demo.url + "/")
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#engine")).to_contain_text("Celery + Redis · SQLite")

    # Without a worker the task waits in the queue.
    run_task(page, "report", steps="3")
    wait_status(page, "report", "pending")

    worker_env = {**demo.env, "DJANGO_SETTINGS_MODULE": "demo.settings"}
    worker = DemoWorker(worker_env, tmp_path / "worker.log")
    _start(worker, 60.0)
    try:
        wait_status(page, "report", "succeeded", timeout=30_000)
        run_task(page, "countdown", seconds="1")
        wait_status(page, "countdown", "succeeded", timeout=30_000)
        bar = page.locator('.run[data-task="countdown"] .progress-bar')
        expect(bar).to_have_attribute("aria-valuenow", "100")
        expect(page.locator('.run[data-task="countdown"] .outputs')).to_contain_text("Elapsed")
        expect(page.locator('.run[data-task="report"] .message')).to_have_count(3)
        assert_pushed(frames, "countdown")
    finally:
        worker.stop()


class MakeDemo(DemoServer):
    """``make demo``, the README's first command."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path)
        self.argv = ["make", "--no-print-directory", "demo"]


@pytest.mark.services
@pytest.mark.timeout(360)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_demo_stops_at_once_with_a_task_running(tmp_path: Path, signum: int) -> None:
    """Ctrl-C (SIGINT to the terminal's process group) or a SIGTERM to ``make`` stops the
    demo within 2 s; the running task ends failed with the reason, as the next start shows."""
    import requests

    env = demo_environment(tmp_path / "var")
    demo = MakeDemo(env, tmp_path / "demo.log")
    _start(demo, DEMO_START_TIMEOUT)
    visitor = requests.Session()  # an anonymous visitor: the task belongs to the session
    try:
        # Alone from the start: waiting for a turn must not let the 60 s task end first.
        with passes.alone():  # timed
            uuid = visitor.post(
                f"{demo.url}/tasks/",
                json={"task": "long-job", "inputs": {"seconds": 60}},
                timeout=10,
            ).json()["uuid"]
            deadline = time.monotonic() + 20
            while visitor.get(f"{demo.url}/tasks/{uuid}/", timeout=10).json()["progress"] is None:
                assert time.monotonic() < deadline, "the task never reported progress"
                time.sleep(0.1)
            processes = [demo.pid, *child_pids(demo.pid)]
            processes += [pid for parent in processes[1:] for pid in child_pids(parent)]
            sent = time.monotonic()
            if signum == signal.SIGINT:
                os.killpg(demo.pid, signum)
            else:
                os.kill(demo.pid, signum)
            while any(_alive(pid) for pid in processes):
                assert time.monotonic() - sent < 10, demo.output
                time.sleep(0.01)
            took = time.monotonic() - sent
    finally:
        demo.stop()
    print(f"make demo, {signal.Signals(signum).name}: every process gone in {took:.2f} s")
    assert took < 2.0, demo.output
    again = MakeDemo(env, tmp_path / "again.log")
    _start(again, DEMO_START_TIMEOUT)
    try:
        task = visitor.get(f"{again.url}/tasks/{uuid}/", timeout=10).json()
    finally:
        again.stop()
    assert task["status"] == "failed", task
    assert task["error"] == {
        "type": "WorkerLost",
        "message": "The server stopped before the task finished.",
    }


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_worker_refuses_to_start_without_redis(tmp_path: Path) -> None:
    env = demo_environment(tmp_path, DJANGO_SETTINGS_MODULE="demo.settings")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "demo", "worker", "--pool=solo"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stdout + result.stderr


# -- settings -----------------------------------------------------------------------


def demo_settings(tmp_path: Path, **extra: str) -> dict[str, Any]:
    """The demo's settings in a child process, under this environment."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'backend': s.TASK_API_BACKEND, 'layer': s.CHANNEL_LAYERS['default'], "
        "'broker': s.CELERY_BROKER_URL, 'db': s.DATABASES['default']}))"
    )
    env = demo_environment(tmp_path, DJANGO_SETTINGS_MODULE="demo.settings", **extra)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    settings: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return settings


def test_settings_default_to_one_process(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    assert settings["backend"] == "task_api.backends.inprocess.InProcessBackend"
    assert settings["layer"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert settings["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["db"]["NAME"] == str(tmp_path / "demo.sqlite3")


def test_settings_use_celery_and_redis_with_redis_url(tmp_path: Path) -> None:
    settings = demo_settings(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6390/2",
        DATABASE_URL="postgres://demo:s%40cret@db.example:5433/demo",
    )
    assert settings["backend"] == "task_api.backends.celery.CeleryBackend"
    assert settings["broker"] == "redis://127.0.0.1:6390/2"
    assert settings["layer"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert settings["layer"]["CONFIG"]["hosts"] == [
        {"address": "redis://127.0.0.1:6390/2", "socket_timeout": 30, "max_connections": 1000}
    ]
    assert settings["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["db"]["PASSWORD"] == "s@cret"


def test_database_url_postgres(demo_env_module: ModuleType) -> None:
    database = demo_env_module.database_from_url(
        "postgresql://user:p%2Fw@db.internal:6543/app%20db?sslmode=require"
    )
    assert database == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app db",
        "USER": "user",
        "PASSWORD": "p/w",
        "HOST": "db.internal",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }
    minimal = demo_env_module.database_from_url("postgres:///demo")
    assert (minimal["NAME"], minimal["HOST"], minimal["PORT"], minimal["USER"]) == (
        "demo",
        "",
        "",
        "",
    )


def test_database_url_sqlite(demo_env_module: ModuleType, tmp_path: Path) -> None:
    database = demo_env_module.database_from_url(f"sqlite://{tmp_path}/x.sqlite3")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == f"{tmp_path}/x.sqlite3"
    # Those of the README and of the system check task_api.W002: no "database is locked".
    assert database["OPTIONS"] == SQLITE_OPTIONS


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u:p@h/db", "Unsupported DATABASE_URL scheme 'mysql'"),
        ("postgres://u:secret@h:5432/", "names no database"),
        ("postgres://u:secret@h:port/db", "invalid port"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_database_url_errors(demo_env_module: ModuleType, url: str, problem: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=re.escape(problem)) as raised:
        demo_env_module.database_from_url(url)
    assert "secret" not in str(raised.value)


def test_primes_task_counts_right() -> None:
    tasks = _load("_demo_tasks", REPO_ROOT / "demo" / "tasks.py")
    for limit, count, largest in [
        (10, 4, 7),
        (11, 4, 7),
        (12, 5, 11),
        (100, 25, 97),
        (30_000, 3245, 29_989),
    ]:
        assert tasks.Primes().run(limit=limit) == {"count": count, "largest": largest}


# -- compose.yaml and Dockerfile --------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    path = REPO_ROOT / "compose.yaml"
    assert path.exists(), "compose.yaml is missing"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _test_command(healthcheck: dict[str, Any]) -> str:
    test = healthcheck["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_services_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"web", "worker", "redis", "postgres", "migrate"} <= set(services)
    assert services["redis"]["image"] == "redis:7"
    assert "redis-cli ping" in _test_command(services["redis"]["healthcheck"])
    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in _test_command(services["postgres"]["healthcheck"])
    assert "/tasks/catalog/" in _test_command(services["web"]["healthcheck"])
    assert "daphne" in services["web"]["command"]
    assert "demo.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "demo", "worker"]
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert any(str(port).endswith(":8000") for port in services["web"]["ports"])


def test_compose_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_compose_environment_points_at_its_services(
    compose: dict[str, Any], demo_env_module: ModuleType
) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    for name in ("web", "worker", "migrate"):
        env = services[name]["environment"]
        assert services[name]["build"] == "."
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        database = demo_env_module.database_from_url(env["DATABASE_URL"])
        assert database["HOST"] == "postgres"
        assert (database["NAME"], database["USER"], database["PASSWORD"]) == (
            postgres["POSTGRES_DB"],
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        )
        assert "localhost" in env["DJANGO_ALLOWED_HOSTS"].split(",")


def test_compose_config_is_valid_for_docker_when_available() -> None:
    """``docker compose config`` where the compose plugin exists; PyYAML above always."""
    docker = shutil.which("docker")
    has_compose = bool(docker) and (
        subprocess.run([docker or "docker", "compose", "version"], capture_output=True).returncode
        == 0
    )
    if not has_compose:
        # The YAML checks above cover the file; nothing more can be run here.
        return
    result = subprocess.run(
        [docker or "docker", "compose", "config", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_installs_the_package_and_the_demo() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim$", text, re.MULTILINE)
    assert 'pip install ".[redis,daphne,postgres,postgres-only]"' in text
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (REPO_ROOT / source).exists(), (
                    f"Dockerfile copies {source}, which is missing"
                )
                assert source.rstrip("/") not in ignored, f".dockerignore drops {source}"
