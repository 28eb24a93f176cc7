"""The services every scenario runs against, private to one bench run.

``Stack`` starts a redis-server on a free port, migrates a fresh SQLite
database in a temporary directory, creates a user, then starts a Celery
worker (prefork, two processes) and daphne on the bench project. Everything is
stopped and removed on exit.
"""

from __future__ import annotations

import base64
import os
import resource
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from .processes import (
    REPO_ROOT,
    Process,
    cpu_seconds,
    free_port,
    port_open,
    rss_bytes,
    server_argv,
)

LOGS = REPO_ROOT / "bench" / "results" / "logs"
USERNAME, PASSWORD = "bench", "bench-password"
DEFAULT_INTERVAL = 0.1


def raise_file_limit() -> int:
    """Raise the soft limit of open files to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Stack:
    """redis-server, a migrated database, a Celery worker and daphne, with a logged-in user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="task_api_bench_"))
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.origin = self.base_url
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            **self._database_env(),
            "REDIS_URL": self.redis_url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
        }
        self.extra: list[Process] = []  # second nodes, stopped with the rest
        self.interval = DEFAULT_INTERVAL
        self.cookie = ""
        self.user: Any = None
        redis_argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        redis_argv += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.redis = Process(
            "redis-server",
            redis_argv,
            log_path=self.dir / "redis.log",
            env=self.env,
            ready=lambda: port_open(self.redis_port),
        )
        self.worker = self._worker(self.interval)
        self.daphne = Process(  # or uvicorn, granian: BENCH_SERVER
            "daphne",
            server_argv(sys.executable, self.port, "bench.asgi:application"),
            log_path=self.dir / "daphne.log",
            env=self.env,
            ready=lambda: port_open(self.port),
        )

    # -- database ---------------------------------------------------------------------

    def _database_env(self) -> dict[str, str]:
        """SQLite in the temporary directory, or with ``BENCH_DB=postgres`` a fresh
        database on the PostgreSQL server the tests use (``PGHOST``, ``PGPORT``, ``PGUSER``)."""
        self.pg_name = ""
        if os.environ.get("BENCH_DB") != "postgres":
            return {
                "TASK_API_TEST_DB": "sqlite",
                "TASK_API_DB_NAME": str(self.dir / "bench.sqlite3"),
            }
        self.pg_name = f"task_api_bench_{os.getpid()}"
        self._postgres(
            f'DROP DATABASE IF EXISTS "{self.pg_name}"', f'CREATE DATABASE "{self.pg_name}"'
        )
        return {"TASK_API_TEST_DB": "postgres", "TASK_API_DB_NAME": self.pg_name}

    @staticmethod
    def _postgres(*statements: str) -> None:
        import psycopg

        with psycopg.connect(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=os.environ.get("PGPORT", "5432"),
            user=os.environ.get("PGUSER", "postgres"),
            dbname="postgres",
            autocommit=True,
        ) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start every service; on failure, stop what was started."""
        raise_file_limit()
        try:
            self.redis.start()
            os.environ.update(self.env)
            self._setup_django()
            self.worker.start(timeout=60)
            self.daphne.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every service, keep the logs in ``bench/results/logs``, remove the rest."""
        for process in (*self.extra, self.daphne, self.worker, self.redis):
            process.stop()
        if self.pg_name:
            from django.db import connections

            connections.close_all()
            self._postgres(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(LOGS, ignore_errors=True)
        LOGS.mkdir(parents=True)
        for log in self.dir.glob("*.log"):
            shutil.copy(log, LOGS / log.name)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _setup_django(self) -> None:
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0, interactive=False)
        self.user = User.objects.create_user(USERNAME, password=PASSWORD)
        client = Client()
        client.force_login(self.user)
        self.cookie = f"sessionid={client.cookies['sessionid'].value}"

    # -- the worker -----------------------------------------------------------------

    def _worker(
        self, interval: float, name: str = "bench", env: dict[str, str] | None = None
    ) -> Process:
        argv = [sys.executable, "-m", "celery", "-A", "tests.project.celery", "worker"]
        argv += ["--loglevel=WARNING", "--concurrency=2", "--pool=prefork", "-n", f"{name}@%h"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return Process(
            f"celery {name}",
            argv,
            log_path=self.dir / f"{name}.log" if name != "bench" else self.dir / "worker.log",
            env={**(env or self.env), "BENCH_PROGRESS_INTERVAL": repr(interval)},
            ready=lambda: self.worker_answers(name),
        )

    def worker_answers(self, name: str = "bench") -> bool:
        """Whether a worker answers a ``ping`` over the broker."""
        replies = self.celery_app.control.ping(timeout=0.5)
        return any(node.startswith(f"{name}@") for reply in replies for node in reply)

    def use_interval(self, interval: float) -> None:
        """Restart the worker with ``TASK_API_PROGRESS_INTERVAL = interval`` unless it has it."""
        if interval == self.interval:
            return
        self.worker.stop()
        self.interval = interval
        self.worker = self._worker(interval)
        self.worker.start(timeout=60)

    @property
    def celery_app(self) -> Any:
        from tests.project.celery import app

        return app

    def pause_worker(self, paused: bool, name: str | None = None) -> None:
        """Stop or resume the consumption of the default queue by the worker ``name``
        (``-n name@host``), or by every worker."""
        control = self.celery_app.control
        destination = None if name is None else [f"{name}@{socket.gethostname()}"]
        if paused:
            control.cancel_consumer("celery", reply=True, timeout=2, destination=destination)
        else:
            control.add_consumer("celery", reply=True, timeout=2, destination=destination)

    # -- daphne -----------------------------------------------------------------------

    def second_node(
        self, *, pubsub: bool = False, interval: float | None = None
    ) -> tuple[Process, Process, int]:
        """Another daphne and another Celery worker on the same Redis and database:
        the processes and the daphne's port. With ``pubsub`` both use channels-redis's
        ``RedisPubSubChannelLayer`` (``BENCH_PUBSUB_LAYER``); they consume the same
        queue as the first worker, so pause that one to have the tasks run here."""
        port = free_port()
        suffix = "pubsub" if pubsub else "2"
        env = {**self.env, "BENCH_PUBSUB_LAYER": "1"} if pubsub else self.env
        daphne = Process(
            f"daphne-{suffix}",
            server_argv(sys.executable, port, "bench.asgi:application"),
            log_path=self.dir / f"daphne-{suffix}.log",
            env=env,
            ready=lambda: port_open(port),
        )
        worker = self._worker(
            self.interval if interval is None else interval, name=f"worker-{suffix}", env=env
        )
        self.extra += [daphne, worker]
        return daphne, worker, port

    def use_server(self, server: str) -> None:
        """Serve the bench project with ``server`` (daphne, uvicorn, granian) from now on."""
        os.environ["BENCH_SERVER"] = server
        self.daphne.stop()
        self.daphne.argv = server_argv(sys.executable, self.port, "bench.asgi:application")
        self.daphne.start()

    def restart_daphne(self) -> None:
        """A fresh daphne process (for memory measurements)."""
        self.daphne.stop()
        self.daphne.start()

    def daphne_rss(self) -> int:
        """daphne's resident memory in bytes."""
        return rss_bytes(self.daphne.serving_pid)

    def daphne_cpu(self) -> float:
        """CPU seconds daphne has used so far."""
        return cpu_seconds(self.daphne.serving_pid)

    # -- clients ----------------------------------------------------------------------

    @property
    def basic_auth(self) -> str:
        """The ``Authorization`` header of the bench user."""
        token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return f"Basic {token}"

    def subprocess(self, name: str, module_args: list[str]) -> Process:
        """A ``python -m bench.<module>`` helper process with the bench environment."""
        return Process(
            name,
            [sys.executable, "-m", *module_args],
            log_path=self.dir / f"{name}.log",
            env=self.env,
        )

    def clear_tasks(self) -> None:
        """Remove every task record (between scenarios)."""
        from task_api.models import TaskRecord

        TaskRecord.objects.all().delete()


LOGIN = f"""
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
user = User.objects.create_user({USERNAME!r}, password={PASSWORD!r})
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


class PostgresOnly:
    """The PostgreSQL-only stack (docs/how-to/postgres-only.md) next to a bench ``Stack``:
    a Procrastinate worker (two at a time, as the Celery worker) and a daphne on
    channels-postgres, on a fresh database of the PostgreSQL server the tests use, with
    the same user. It answers what scenarios ask of a ``Stack`` (``port``, ``ws_url``,
    ``cookie``, ``basic_auth``, ``daphne_rss`` ...); the bench's own Django stays on
    the ``Stack``'s database, so :meth:`succeeded` counts tasks with a query of its own."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.pg_name = f"task_api_bench_pgonly_{os.getpid()}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.origin = self.base_url
        self.basic_auth = stack.basic_auth
        self.cookie = ""
        self._connection: Any = None
        env = {k: v for k, v in stack.env.items() if k != "REDIS_URL"}
        self.env = {
            **env,
            "TASK_API_TEST_DB": "postgres",
            "TASK_API_DB_NAME": self.pg_name,
            "TASK_API_TEST_STACK": "postgres-only",
            "BENCH_PROGRESS_INTERVAL": repr(stack.interval),
        }
        worker_log = stack.dir / "pgonly-worker.log"
        self.worker = Process(
            "procrastinate worker",
            [sys.executable, "-m", "django", "procrastinate", "worker", "--concurrency=2"],
            log_path=worker_log,
            env=self.env,
            ready=lambda: "Launching a worker" in worker_log.read_text(errors="replace"),
        )
        daphne_argv = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1"]
        self.daphne = Process(
            "daphne pgonly",
            [*daphne_argv, "-p", str(self.port), "bench.asgi:application"],
            log_path=stack.dir / "pgonly-daphne.log",
            env=self.env,
            ready=lambda: port_open(self.port),
        )

    def start(self) -> None:
        """Create and migrate the database, log the user in, start the worker and daphne."""
        import subprocess

        Stack._postgres(
            f'DROP DATABASE IF EXISTS "{self.pg_name}"', f'CREATE DATABASE "{self.pg_name}"'
        )
        for args in (["migrate", "--verbosity=0"], ["shell", "-c", LOGIN]):
            result = subprocess.run(
                [sys.executable, "-m", "django", *args],
                cwd=REPO_ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
        self.cookie = f"sessionid={result.stdout.strip().splitlines()[-1]}"
        self.stack.extra += [self.daphne, self.worker]  # stopped with the stack
        self.worker.start(timeout=60)
        self.daphne.start()

    def stop(self) -> None:
        """Stop the processes and drop the database."""
        if self._connection is not None:
            self._connection.close()
        self.daphne.stop()
        self.worker.stop()
        Stack._postgres(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def _query(self, statement: str, *params: str) -> Any:
        """Run ``statement`` on the stack's database, on one connection kept open (the
        shared server's connections are few); the first row, if any."""
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                host=os.environ.get("PGHOST", "127.0.0.1"),
                port=os.environ.get("PGPORT", "5432"),
                user=os.environ.get("PGUSER", "postgres"),
                dbname=self.pg_name,
                autocommit=True,
            )
        cursor = self._connection.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchone() if cursor.description else None

    def succeeded(self, name: str) -> int:
        """How many tasks ``name`` succeeded."""
        query = "SELECT count(*) FROM task_api_taskrecord WHERE name = %s AND status = %s"
        return int(self._query(query, name, "succeeded")[0])

    def clear_tasks(self) -> None:
        """Remove every task record."""
        self._query("TRUNCATE task_api_taskrecord CASCADE")

    def daphne_rss(self) -> int:
        return rss_bytes(self.daphne.pid)

    def daphne_cpu(self) -> float:
        return cpu_seconds(self.daphne.pid)
