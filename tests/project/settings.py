"""Settings of the test project.

The same file serves pytest and the processes the tests start (Celery worker,
daphne). Environment variables choose the services:

- ``TASK_API_TEST_DB``: ``sqlite`` (default) or ``postgres``.
- ``TASK_API_DB_NAME``: the database (SQLite file or PostgreSQL name) that a
  process started by the tests shares with them.
- ``REDIS_URL``: when set, Celery and the channel layer use that Redis;
  otherwise Celery runs eagerly and the channel layer lives in memory.
- ``TASK_API_TEST_STACK``: ``postgres-only`` for Procrastinate and channels-postgres
  on the PostgreSQL database (no Redis: ``REDIS_URL`` is not read then).
- ``TASK_API_TEST_LAYER``: ``core`` (default) for channels-redis's
  ``RedisChannelLayer``, ``pubsub`` for its ``RedisPubSubChannelLayer`` on the
  same Redis. Processes started by the tests inherit it with the environment.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import django

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.project.urls"
ASGI_APPLICATION = "tests.project.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "task_api",
    "tests.project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Processes started by the tests receive the test database's name in
# TASK_API_DB_NAME, so that they all share one database.
_db_name_override = os.environ.get("TASK_API_DB_NAME")
_sqlite_path = _db_name_override or str(
    Path(tempfile.gettempdir()) / f"task_api_test_{os.getpid()}.sqlite3"
)
if os.environ.get("TASK_API_TEST_DB", "sqlite") == "postgres":
    _pg_name = _db_name_override or f"task_api_{os.getpid()}"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _pg_name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": _pg_name if _db_name_override else f"test_{_pg_name}"},
        }
    }
    DATABASES["tasks"] = {
        **DATABASES["default"],
        "NAME": f"{_pg_name}_tasks",
        "TEST": {"NAME": f"test_{_pg_name}_tasks"},
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            "OPTIONS": {
                # Shorter in a process of the busy-database test.
                "timeout": float(os.environ.get("TASK_API_TEST_SQLITE_TIMEOUT", "30")),
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": _sqlite_path},
        }
    }
    DATABASES["tasks"] = {
        **DATABASES["default"],
        "NAME": _sqlite_path.replace(".sqlite3", "_tasks.sqlite3"),
        "TEST": {"NAME": _sqlite_path.replace(".sqlite3", "_tasks.sqlite3")},
    }

REDIS_URL = os.environ.get("REDIS_URL", "")

TEST_LAYER = os.environ.get("TASK_API_TEST_LAYER", "core")
if TEST_LAYER not in ("core", "pubsub"):
    raise ValueError(f"TASK_API_TEST_LAYER must be core or pubsub, not {TEST_LAYER!r}")


def redis_channel_layer(url: str, layer: str = TEST_LAYER) -> dict[str, Any]:
    """The ``CHANNEL_LAYERS`` entry of ``layer`` (``core`` or ``pubsub``) on ``url``."""
    if layer == "pubsub":
        # Its receive polls with a 0.1 s read timeout: no socket_timeout needed.
        return {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [url]},
        }
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py's default 5 s read timeout equals channels-redis's 5 s
        # blocking receive, which then times out on idle connections.
        "CONFIG": {
            "hosts": [{"address": url, "socket_timeout": 30, "max_connections": 1000}],
            "capacity": 1000,
        },
    }


PGONLY = os.environ.get("TASK_API_TEST_STACK") == "postgres-only"
if PGONLY:
    # docs/how-to/postgres-only.md: the queue and the channel layer in the same database.
    INSTALLED_APPS += ["procrastinate.contrib.django", "channels_postgres"]
    TASK_API_BACKEND = "task_api.backends.procrastinate.ProcrastinateBackend"
    DATABASES["channels_postgres"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "task_api.backends.postgres_layer.PostgresChannelLayer",
            # The database's settings, with the keys channels-postgres reads and Django
            # fills in only for DATABASES.
            "CONFIG": {
                **{k: v for k, v in DATABASES["default"].items() if k != "TEST"},
                "PASSWORD": os.environ.get("PGPASSWORD", ""),
                "OPTIONS": {},
                "TIME_ZONE": None,
            },
        }
    }
    PROCRASTINATE_WORKER_DEFAULTS = {"delete_jobs": "always", "update_heartbeat_interval": 2.0}
    PROCRASTINATE_ON_APP_READY = "task_api.backends.procrastinate.on_app_ready"
    REDIS_URL = ""
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
elif REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True

CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Basic authentication checks the password on every request: keep that cheap.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

TASK_API_BACKGROUND_TASKS = [
    "tests.project.tasks.Add",
    "tests.project.tasks.Countdown",
    "tests.project.tasks.Fail",
    "tests.project.tasks.Messages",
    "tests.project.tasks.MultiOutput",
    "tests.project.tasks.BadOutput",
    "tests.project.tasks.Sleep",
    "tests.project.tasks.Burst",
    "tests.project.tasks.Echo",
    "tests.project.tasks.RetrySafeSleep",
    "tests.project.tasks.Stubborn",
    "tests.project.tasks.SoftLimited",
    "tests.project.tasks.Flaky",
    "tests.project.tasks.Swallower",
    "tests.project.tasks.LimitedSwallower",
    "tests.project.tasks.RuntimeProbe",
    "tests.project.tasks.Tokens",
    "tests.project.tasks.RetrySafeTokens",
    "tests.project.readme_streams.Answer",
    "tests.project.readme_tasks.Wait",
    "tests.project.batch_tasks.Spawn",
]

# Django's task framework: django.tasks, or on Django 5.2 the django-tasks backport
# (not in INSTALLED_APPS: task_api loads its checks).
if django.VERSION >= (6,) or importlib.util.find_spec("django_tasks"):
    TASKS = {"default": {"BACKEND": "task_api.backends.django_tasks.TaskAPIBackend"}}
    # Only these functions may be started over REST; any other @task function
    # of the project still runs when enqueued from code.
    TASK_API_BACKGROUND_TASKS += [
        "tests.project.functions.count",
        "tests.project.functions.typed",
        "tests.project.functions.spell",
        "tests.project.functions.explode",
        "tests.project.readme_functions.countdown",
    ]
# The end-to-end tests start a thousand tasks at once as one user.
TASK_API_MAX_RUNNING_PER_USER = 5000

# Prometheus metrics in every process (TASK_API_TEST_METRICS=off: none); processes started
# by the metrics tests open the page to a token.
TASK_API_METRICS = os.environ.get("TASK_API_TEST_METRICS", "on") == "on"
TASK_API_METRICS_TOKEN = os.environ.get("TASK_API_TEST_METRICS_TOKEN") or None

# Processes started by the outage tests: another backend, faster heartbeats.
if os.environ.get("TASK_API_TEST_BACKEND"):
    TASK_API_BACKEND = os.environ["TASK_API_TEST_BACKEND"]
if os.environ.get("TASK_API_TEST_SOFT_SHUTDOWN"):
    CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(os.environ["TASK_API_TEST_SOFT_SHUTDOWN"])
if os.environ.get("TASK_API_TEST_SSE_HEARTBEAT"):
    TASK_API_SSE_HEARTBEAT = float(os.environ["TASK_API_TEST_SSE_HEARTBEAT"])
if os.environ.get("TASK_API_TEST_STALE_AFTER"):
    TASK_API_STALE_AFTER = float(os.environ["TASK_API_TEST_STALE_AFTER"])
    TASK_API_HEARTBEAT_INTERVAL = TASK_API_STALE_AFTER / 4
if os.environ.get("TASK_API_TEST_RESYNC_INTERVAL"):
    TASK_API_RESYNC_INTERVAL = float(os.environ["TASK_API_TEST_RESYNC_INTERVAL"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"task_api": {"handlers": ["console"], "level": "WARNING"}},
}

# Spans of the live processes, for tests/test_tracing.py.
if os.environ.get("TASK_API_TEST_SPANS"):
    from tests.project.tracing import export_spans_to

    export_spans_to(os.environ["TASK_API_TEST_SPANS"])
