"""The process's runtime, with real processes: nothing starts at import, a forked child
(a Celery prefork pool process) starts afresh, and a server stopped by a signal with
in-process tasks running exits at once and ends them with the reason.

Also: Celery is imported only where it is the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests import passes
from tests.services import REPO_ROOT, CeleryWorker, DaphneServer, RedisServer, Service
from tests.watching import RestClient

SERVER_STOPPED = {"type": "WorkerLost", "message": "The server stopped before the task finished."}
INPROCESS = "task_api.backends.inprocess.InProcessBackend"
#: A server stopped by a signal with tasks running exits within this many seconds.
STOP_WITHIN = 2.0


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a new interpreter of the test project; its output."""
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.project.settings"}
    environ.pop("REDIS_URL", None)
    environ.update({"PYTHONPATH": str(REPO_ROOT), **(env or {})})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# -- lifecycle in a plain process ----------------------------------------------------


def test_nothing_runs_after_setup_and_a_forked_child_starts_afresh() -> None:
    out = run_python(
        """
        import os, threading, django
        django.setup()
        from task_api.engine import batch_notifier, flusher, publisher, runtime
        from task_api.reporting import Reporter

        assert [t.name for t in threading.enumerate()] == ["MainThread"]
        assert runtime.RUNTIME.parts == {}
        reporter = Reporter("x", None)
        flusher.register(reporter)  # starts the flusher's thread
        parent_flusher = runtime.get(flusher.Flusher)
        publisher.current()
        pid = os.fork()
        if pid == 0:
            ok = runtime.RUNTIME.parts == {} and not runtime.RUNTIME.stopped
            flusher.register(reporter)
            ok = ok and runtime.get(flusher.Flusher) is not parent_flusher
            ok = ok and "task_api-flusher" in [t.name for t in threading.enumerate()]
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        print("parent", sorted(kind.__name__ for kind in runtime.RUNTIME.parts))
        """
    )
    assert "child 0" in out
    assert "parent ['Flusher', 'Publisher']" in out


def test_the_runtime_stops_at_exit_in_order_and_refuses_work_after() -> None:
    out = run_python(
        """
        import atexit, django

        order = []

        @atexit.register  # before the runtime's own handler, so it runs after it
        def report():
            thread = runtime.get(flusher.Flusher)._thread
            print("order", order, "flusher alive", thread.is_alive())
            print("stopped", runtime.RUNTIME.stopped, publisher.publish("x", {"type": "x"}))

        django.setup()
        from task_api.engine import flusher, publisher, runtime
        from task_api.reporting import Reporter

        flusher.register(Reporter("x", None))
        for kind in (publisher.Publisher, flusher.Flusher):
            part = runtime.get(kind)
            stop = part.stop
            part.stop = lambda stop=stop, name=kind.__name__: (order.append(name), stop())
        """
    )
    assert "order ['Flusher', 'Publisher'] flusher alive False" in out
    assert "stopped True False" in out


# -- Celery only where it is the engine ----------------------------------------------

MINIMAL_SETTINGS = """
SECRET_KEY = "x"
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "channels", "task_api"
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "task_api.urls"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
TASK_API_BACKEND = BACKEND
"""


@pytest.mark.parametrize(
    ("backend", "celery_loaded"),
    [(INPROCESS, False), ("task_api.backends.celery.CeleryBackend", True)],
)
def test_celery_is_imported_only_where_it_is_the_engine(
    tmp_path: Path, backend: str, celery_loaded: bool
) -> None:
    (tmp_path / "minimal_settings.py").write_text(
        MINIMAL_SETTINGS.replace("BACKEND\n", f"{backend!r}\n")
    )
    out = run_python(
        """
        import sys, django
        django.setup()
        from django.core.checks import run_checks
        from django.urls import resolve
        import task_api.routing, task_api.batches, task_api.consumers, task_api.views.tasks

        assert not [m for m in run_checks() if m.is_serious()], run_checks()
        resolve("/tasks/")
        print("celery", "celery" in sys.modules)
        if "celery" in sys.modules:
            from celery import current_app

            print("registered", "task_api.run" in current_app.tasks)
        """,
        env={
            "DJANGO_SETTINGS_MODULE": "minimal_settings",
            "PYTHONPATH": f"{tmp_path}:{REPO_ROOT}",
        },
    )
    assert f"celery {celery_loaded}" in out
    if celery_loaded:
        assert "registered True" in out


# -- a server stopped with in-process tasks running ----------------------------------


@pytest.fixture
def inprocess_env(live_db: dict[str, str], redis_server: RedisServer) -> Any:
    """The environment of a daphne running tasks in its own threads, on the test database;
    ``layer="redis"`` puts its events on the private Redis (else in memory)."""

    def env(layer: str) -> dict[str, str]:
        environ = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        environ.update(live_db, TASK_API_TEST_BACKEND=INPROCESS)
        if layer == "redis":
            environ["REDIS_URL"] = redis_server.url.rsplit("/", 1)[0] + "/6"
        return environ

    return env


def _wait_running(client: RestClient, uuids: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [client.get(uuid).json() for uuid in uuids]
        if all(task["status"] == "running" for task in tasks):
            return
        time.sleep(0.05)
    raise AssertionError(f"not all running: {tasks}")


def stop_with(service: Service, signum: int) -> float:
    """Send ``signum`` to the service's process; seconds until it exited."""
    process = service._process
    assert process is not None
    sent = time.monotonic()
    os.kill(process.pid, signum)
    try:
        process.wait(10)
    finally:
        service.stop()
    return time.monotonic() - sent


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("signum", "layer"),
    [(signal.SIGTERM, "memory"), (signal.SIGINT, "memory"), (signal.SIGTERM, "redis")],
    ids=["sigterm", "sigint", "sigterm-redis"],
)
def test_a_signal_stops_daphne_at_once_and_fails_its_tasks_with_the_reason(
    inprocess_env: Any, users: Any, tmp_path: Path, signum: int, layer: str
) -> None:
    env = inprocess_env(layer)
    daphne = DaphneServer(env, tmp_path / "daphne.log")
    daphne.start()
    try:
        alice = RestClient(daphne.url, "alice", "pw-alice")
        # Alone from the start: waiting for a turn must not let the 60 s tasks end first.
        with passes.alone():  # timed
            # One that checks in at every progress call, one that never does.
            sleeping = alice.start("sleep", {"seconds": 60})["uuid"]
            stubborn = alice.start("stubborn", {"seconds": 60})["uuid"]
            _wait_running(alice, [sleeping, stubborn])
            took = stop_with(daphne, signum)
        log = daphne.log_path.read_text()
        print(f"{signal.Signals(signum).name} ({layer} layer): exited in {took:.2f} s")
        assert took < STOP_WITHIN, log
        assert "Traceback" not in log, log
        assert "destroyed" not in log, log
        again = DaphneServer(env, tmp_path / "again.log")
        again.start()  # on the same database
        alice = RestClient(again.url, "alice", "pw-alice")
        for uuid in (sleeping, stubborn):
            task = alice.get(uuid).json()
            assert task["status"] == "failed", task
            assert task["error"] == SERVER_STOPPED
            assert task["cancel_requested"] is False
        again.stop()
    finally:
        daphne.stop()


# -- a Celery prefork pool process ---------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_prefork_pool_process_starts_its_runtime_afresh(
    live_db: dict[str, str], redis_server: RedisServer, users: Any, tmp_path: Path
) -> None:
    """Each task runs in a pool process forked by the worker's main process, whose
    runtime already has its sweeper: none of it is in the child."""
    env = {**os.environ, **live_db, "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/5"}
    worker = CeleryWorker(env, tmp_path / "worker.log", concurrency=1)
    worker.argv.append("--max-tasks-per-child=1")
    daphne = DaphneServer(env, tmp_path / "daphne.log")
    try:
        worker.start()
        main_pid = worker.pid
        daphne.start()
        alice = RestClient(daphne.url, "alice", "pw-alice")
        runs = [alice.wait(alice.start("runtime-probe", {})["uuid"]) for _ in range(2)]
    finally:
        daphne.stop()
        worker.stop()
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"], runs
    first, second = (run["outputs"] for run in runs)
    assert first["pid"] != second["pid"] != main_pid
    for outputs in (first, second):
        assert "Sweeper" not in outputs["parts"], outputs
        assert {"Publisher", "Flusher"} <= set(outputs["parts"]), outputs
        assert {"task_api-flusher", "task_api-publisher"} <= set(outputs["threads"]), outputs
    assert all(run["progress"] == 1 for run in runs)
