"""Fixtures that start real services for the tests: Redis, a Celery worker and
daphne (or uvicorn), sharing the test database; a private PostgreSQL cluster that tests may
restart; and the users to act as.

Each service runs as a child process on its own free port, with its own
temporary directory and a log file, and is stopped at the end of the session.
A service that fails to start fails the test with the tail of its log.
Tests that share data with these processes must commit it:
``@pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from celery import Celery

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import DjangoDbBlocker

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "staff": "pw-staff"}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServiceError(RuntimeError):
    """A service did not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_pids(pid: int) -> list[int]:
    """Return the ids of the live (not zombie) processes whose parent is ``pid``."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return sorted(children)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class Service:
    """A child process with its output in a log file, stopped and started on demand.

    ``ready`` is polled after each start until it returns true.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self._ready = ready
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id of the running service."""
        if self._process is None:
            raise ServiceError(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """True if the process was started and has not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def crashed(self) -> bool:
        """True if the process exited without being asked to stop."""
        return self._process is not None and self._process.poll() is not None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until it is ready."""
        if self.running:
            return
        self.stop()  # clean up after a crashed process
        with self.log_path.open("ab") as log:
            log.write(f"--- starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            # A session of its own, so that stop() can reach the children too.
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_ready(timeout)
        except ServiceError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the running service answers, e.g. after a restart of its broker."""
        process = self._process
        if process is None:
            raise ServiceError(f"{self.name} is not running")
        deadline = time.monotonic() + timeout
        while not self._ready():
            code = process.poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with code {code}" if code is not None else f"not ready in {timeout}s"
                raise ServiceError(
                    f"{self.name} {why}; last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Ask the process to stop; kill it and its children if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Whatever is left of its process group (pool workers) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop, then start again with the same command line (and so port)."""
        self.stop()
        self.start()


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status means the server is up
    except OSError:
        return False


class RedisServer(Service):
    """A private redis-server; it keeps nothing on disk unless ``persistent``.

    A persistent one writes every command to its append-only file, as a
    broker should: a restart then keeps the queued messages.
    """

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--dir", str(directory)]
        argv += (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if persistent
            else [
                "--appendonly",
                "no",
            ]
        )
        super().__init__(
            "redis-server",
            argv,
            log_path=directory / "redis.log",
            ready=self.ping,
            cwd=directory,
        )

    def ping(self) -> bool:
        """True if the server answers PING."""
        return _redis_ping(self.port)


class CeleryWorker(Service):
    """A Celery worker of the test project (prefork, two processes unless told)."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, concurrency: int = 2) -> None:
        self.broker_url = env["REDIS_URL"]
        self.nodename = f"test@{socket.gethostname()}"
        argv = [sys.executable, "-m", "celery", "-A", "tests.project.celery", "worker"]
        argv += ["--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "test@%h"]
        super().__init__("celery worker", argv, log_path=log_path, ready=self.ping, env=env)

    def child_pids(self) -> list[int]:
        """The ids of the pool's worker processes."""
        return child_pids(self.pid)

    def ping(self, timeout: float = 1.0) -> bool:
        """True if the worker answers a ``ping`` control command over the broker."""
        try:
            with self.control_app() as app:
                replies = app.control.ping(destination=[self.nodename], timeout=timeout)
        except Exception:  # the broker is down or restarting: no answer
            return False
        return any(self.nodename in reply for reply in replies)

    def control_app(self) -> Celery:
        """A Celery app on the worker's broker, for control commands; close it after use."""
        # Not the project's app: in the test process that one runs eagerly.
        # No connection pool: a pooled connection would outlive a Redis restart.
        return Celery(
            "tests.project",
            broker=self.broker_url,
            set_as_current=False,
            config_source={"broker_pool_limit": 0},
        )


class ProcrastinateWorker(Service):
    """A Procrastinate worker of the test project (``manage.py procrastinate worker``):
    ready once it logs that it started, after its latest start."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, concurrency: int = 2) -> None:
        argv = [sys.executable, "-m", "django", "procrastinate", "worker"]
        argv += [f"--concurrency={concurrency}", "--name=test"]
        super().__init__(
            "procrastinate worker", argv, log_path=log_path, ready=self.started, env=env
        )

    def started(self) -> bool:
        """True once the log shows the worker started since the latest start."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return False
        return "Launching a worker" in text.rpartition("--- starting:")[2]


class _AsgiServer(Service):
    """An ASGI server serving the test project's application on a free port of 127.0.0.1;
    ``.url``, ``.ws_url``."""

    name = "asgi"

    def __init__(self, env: Mapping[str, str], log_path: Path, options: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", self.name, *self.listen(self.port), *options]
        super().__init__(
            self.name,
            [*argv, "tests.project.asgi:application"],
            log_path=log_path,
            ready=functools.partial(_http_answers, self.url + "/"),
            env=env,
        )

    def listen(self, port: int) -> list[str]:
        """The arguments that bind the server to ``port``, and its fixed options."""
        raise NotImplementedError


class DaphneServer(_AsgiServer):
    """daphne serving the test project's ASGI application."""

    name = "daphne"

    def listen(self, port: int) -> list[str]:
        return ["-b", "127.0.0.1", "-p", str(port)]


class UvicornServer(_AsgiServer):
    """uvicorn serving the test project's ASGI application (HTTP and WebSocket); it waits
    at most 2 s for open responses (event streams) when stopped."""

    name = "uvicorn"

    def listen(self, port: int) -> list[str]:
        bind = ["--host", "127.0.0.1", "--port", str(port)]
        return [*bind, "--lifespan", "off", "--no-access-log", "--timeout-graceful-shutdown", "2"]


class GranianServer(_AsgiServer):
    """granian serving the test project's ASGI application (one worker process); it waits
    at most 2 s for open responses when stopped."""

    name = "granian"

    def listen(self, port: int) -> list[str]:
        bind = ["--host", "127.0.0.1", "--port", str(port)]
        return ["--interface", "asginl", *bind, "--workers-kill-timeout", "2"]


AsgiServer = DaphneServer | UvicornServer | GranianServer


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps them off the PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise ServiceError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    return found[-1].parent


class PostgresCluster(Service):
    """A private PostgreSQL cluster (``initdb`` into a temporary directory) on a free port.

    Controlled with ``pg_ctl`` like an operator would: ``restart()`` is
    ``pg_ctl restart -m fast`` (every connection is cut), ``stop()`` and
    ``start()`` leave it down in between. PostgreSQL refuses to run as root,
    so as root the cluster belongs to the ``postgres`` system user.
    """

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        # Not under pytest's temporary root: that one is private to the user running pytest.
        self.directory = Path(tempfile.mkdtemp(prefix="task_api_pg_"))
        self.data = self.directory / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.directory, "postgres", "postgres")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += " -c max_connections=300"
        self._options = options
        super().__init__(
            "postgres", [], log_path=self.directory / "postgres.log", ready=self.answers
        )
        self._up = False
        self._ctl(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def _ctl(self, *argv: str, check: bool = True) -> None:
        result = subprocess.run(
            [*self._as, *argv],
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise ServiceError(
                f"{' '.join(argv)} failed ({result.returncode}): "
                f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
                f"\n{_tail(self.log_path)}"
            )

    def _pg_ctl(self, *args: str) -> None:
        self._ctl(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), *args)

    def answers(self) -> bool:
        """True if the server accepts connections."""
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    @property
    def running(self) -> bool:
        return self._up

    @property
    def crashed(self) -> bool:
        return self._up and not (self.data / "postmaster.pid").exists()

    @property
    def pid(self) -> int:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            raise ServiceError("postgres is not running") from None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """``pg_ctl start``, waiting until it accepts connections."""
        if self._up:
            return
        self._pg_ctl("-o", self._options, "-w", "-t", str(int(timeout)), "start")
        self._up = True

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: open transactions are rolled back, connections cut."""
        if not (self.data / "postmaster.pid").exists():
            self._up = False
            return
        self._pg_ctl("-m", "fast", "-w", "stop")
        self._up = False

    def restart(self) -> None:
        """``pg_ctl restart -m fast``, as in a failover or a minor upgrade."""
        self._pg_ctl("-m", "fast", "-o", self._options, "-w", "restart")
        self._up = True

    def create_database(self, name: str) -> None:
        """An empty database ``name``."""
        self._ctl(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )

    def settings_env(self, name: str) -> dict[str, str]:
        """What the test project's settings need to use database ``name`` of this cluster."""
        return {
            "TASK_API_TEST_DB": "postgres",
            "TASK_API_DB_NAME": name,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
        }

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL; ``.settings_env(dbname)``, ``.restart()``, ``.stop()``, ``.start()``"""
    try:
        cluster = PostgresCluster()
    except (ServiceError, OSError) as error:
        pytest.fail(f"could not create a PostgreSQL cluster: {error}", pytrace=False)
    try:
        _start_or_fail(cluster)
        yield cluster
    finally:
        cluster.remove()


S = TypeVar("S", bound=Service)


def _start_or_fail(service: Service) -> None:
    try:
        service.start()
    except ServiceError as error:
        failure = str(error)
    else:
        return
    pytest.fail(failure, pytrace=False)


def _started(service: S) -> Iterator[S]:
    _start_or_fail(service)
    try:
        yield service
    finally:
        service.stop()


@dataclass(frozen=True, kw_only=True)
class Stack:
    """A redis-server that keeps its data, a Celery worker and daphne of their own."""

    redis: RedisServer
    worker: CeleryWorker
    daphne: DaphneServer


@contextlib.contextmanager
def durable_stack(
    live_db: Mapping[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    concurrency: int = 2,
) -> Iterator[Stack]:
    """Start the three for a module of tests that restart them; stopped at the end."""
    redis = RedisServer(tmp_path_factory.mktemp(f"{name}-redis"), persistent=True)
    environ = {**os.environ, **live_db, "REDIS_URL": redis.url, **(env or {})}
    log_dir = tmp_path_factory.mktemp(f"{name}-logs")
    worker = CeleryWorker(environ, log_dir / "worker.log", concurrency=concurrency)
    daphne = DaphneServer(environ, log_dir / "daphne.log")
    services: list[Service] = [redis, worker, daphne]
    try:
        for service in services:
            _start_or_fail(service)
        yield Stack(redis=redis, worker=worker, daphne=daphne)
    finally:
        for service in reversed(services):
            service.stop()


@pytest.fixture(autouse=True)
def _services_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Start each test with its services running, even if an earlier test
    stopped one; a service that crashes during a test fails it at teardown."""
    names = (
        "postgres_cluster",
        "redis_server",
        "celery_worker",
        "daphne_server",
        "uvicorn_server",
        "granian_server",
    )
    services: list[Service] = [
        request.getfixturevalue(name) for name in names if name in request.fixturenames
    ]
    for service in services:
        _start_or_fail(service)
    yield
    for service in services:
        if service.crashed:
            log = _tail(service.log_path)
            service.stop()
            pytest.fail(
                f"{service.name} crashed during the test; last lines of its log:\n{log}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis; ``.url``, ``.port``, ``.stop()``, ``.start()``, ``.restart()``."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield from _started(server)


@pytest.fixture(scope="session")
def live_db(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> dict[str, str]:
    """The environment that lets a child process use the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        name = str(connection.settings_dict["NAME"])
    return {
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "TASK_API_TEST_DB": os.environ.get("TASK_API_TEST_DB", "sqlite"),
        "TASK_API_DB_NAME": name,
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture(scope="session")
def services_env(
    live_db: dict[str, str], redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment of the worker and daphne: test database and private Redis; their
    spans go to one file (``TASK_API_TEST_SPANS``)."""
    spans = tmp_path_factory.mktemp("spans") / "spans.jsonl"
    return {
        **os.environ,
        **live_db,
        "REDIS_URL": redis_server.url,
        "TASK_API_TEST_SPANS": str(spans),
    }


@pytest.fixture(scope="session")
def celery_worker(
    services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A running Celery worker; ``.pid``, ``.log_path``, ``.child_pids()``, ``.restart()``."""
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    yield from _started(CeleryWorker(services_env, log_path))


@pytest.fixture(scope="session")
def daphne_server(
    services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaphneServer]:
    """daphne on a free port; ``.url``, ``.ws_url``, ``.stop()``, ``.start()``, ``.restart()``."""
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    yield from _started(DaphneServer(services_env, log_path))


@pytest.fixture(scope="session")
def uvicorn_server(
    services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UvicornServer]:
    """uvicorn on a free port, like ``daphne_server``; ``.url``, ``.ws_url``."""
    log_path = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    yield from _started(UvicornServer(services_env, log_path))


@pytest.fixture(scope="session")
def granian_server(
    services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GranianServer]:
    """granian on a free port, like ``daphne_server``; ``.url``, ``.ws_url``."""
    log_path = tmp_path_factory.mktemp("granian") / "granian.log"
    yield from _started(GranianServer(services_env, log_path))


@dataclass(frozen=True, kw_only=True)
class Users:
    """The users every test can act as; passwords are in ``PASSWORDS``."""

    alice: User
    bob: User
    staff: User


@functools.cache
def _password_hash(password: str) -> str:
    # Hashing is slow by design; each test needs the same few hashes.
    from django.contrib.auth.hashers import make_password

    return make_password(password)


@pytest.fixture
def users(transactional_db: None) -> Users:
    """alice and bob (plain users) and staff (``is_staff``), committed to the database."""
    from django.contrib.auth.models import User

    def create(username: str, **extra: Any) -> User:
        return User.objects.create(
            username=username,
            email=f"{username}@example.com",
            password=_password_hash(PASSWORDS[username]),
            **extra,
        )

    return Users(alice=create("alice"), bob=create("bob"), staff=create("staff", is_staff=True))


@dataclass(frozen=True, kw_only=True)
class SessionCookie:
    """The cookies that make an HTTP or WebSocket client act as a user."""

    sessionid: str
    csrftoken: str

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies by name, as given to an HTTP client or a browser."""
        from django.conf import settings

        return {
            settings.SESSION_COOKIE_NAME: self.sessionid,
            settings.CSRF_COOKIE_NAME: self.csrftoken,
        }

    @property
    def header(self) -> str:
        """The ``Cookie`` request header."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


@pytest.fixture
def session_cookie(transactional_db: None) -> Callable[[User], SessionCookie]:
    """Log a user in and return their cookies: ``session_cookie(users.alice)``.

    Send ``csrftoken`` in the ``X-CSRFToken`` header with unsafe requests.
    """
    from django.conf import settings
    from django.http import HttpRequest
    from django.middleware.csrf import get_token
    from django.test import Client

    def login(user: User) -> SessionCookie:
        client = Client()
        client.force_login(user)
        request = HttpRequest()
        get_token(request)
        return SessionCookie(
            sessionid=client.cookies[settings.SESSION_COOKIE_NAME].value,
            csrftoken=request.META["CSRF_COOKIE"],
        )

    return login
