"""Settings of the demo project.

Out of the box everything runs in one process: SQLite in ``DEMO_VAR``
(default ``demo/var/``), tasks in threads of the web process, live events
through the in-memory channel layer. The environment switches to the real
engine:

- ``REDIS_URL``: tasks run on Celery workers (``celery -A demo worker``) with
  this broker, and events go through channels-redis.
- ``DATABASE_URL``: ``postgres://user:password@host:port/name`` picks PostgreSQL.
- ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS`` (comma-separated),
  ``DJANGO_DEBUG``.
"""

from __future__ import annotations

import os
from pathlib import Path

import django

from demo.env import database_from_url, env_flag, env_list, sqlite_database

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("DEMO_VAR") or BASE_DIR / "var")

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-demo-only-3vq8m2x7k1p0r6t4w9y5z2b8n1c6d0f3"
)
DEBUG = env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "task_api",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": sqlite_database(VAR_DIR / "demo.sqlite3")}

REDIS_URL = os.environ.get("REDIS_URL", "")
# PostgreSQL alone (docs/how-to/postgres-only.md): Procrastinate workers, no Redis.
POSTGRES_ONLY = (
    os.environ.get("DEMO_STACK") == "postgres-only"
    and not REDIS_URL
    and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
)
if POSTGRES_ONLY:
    INSTALLED_APPS += ["procrastinate.contrib.django", "channels_postgres"]
    TASK_API_BACKEND = "task_api.backends.procrastinate.ProcrastinateBackend"
    DATABASES["channels_postgres"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "task_api.backends.postgres_layer.PostgresChannelLayer",
            "CONFIG": {"PASSWORD": "", "OPTIONS": {}, "TIME_ZONE": None, **DATABASES["default"]},
        }
    }
    PROCRASTINATE_WORKER_DEFAULTS = {"delete_jobs": "always", "concurrency": 4}
    CELERY_BROKER_URL = "memory://"
elif REDIS_URL:
    TASK_API_BACKEND = "task_api.backends.celery.CeleryBackend"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Above channels-redis's 5 s blocking receive (redis-py's default is 5 s).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 1000}],
                "capacity": 1000,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    TASK_API_BACKEND = "task_api.backends.inprocess.InProcessBackend"
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Visitors need no account: a visitor's tasks belong to their browser session.
# No DEFAULT_SCHEMA_CLASS: the task API's OpenAPI document needs none.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
}
TASK_API_PERMISSIONS_CLASSES = ["rest_framework.permissions.AllowAny"]
TASK_API_BACKGROUND_TASKS = [
    "demo.tasks.Countdown",
    "demo.tasks.WriteAnswer",
    "demo.tasks.Primes",
    "demo.tasks.WordStats",
    "demo.tasks.Report",
    "demo.tasks.Flaky",
    "demo.tasks.LongJob",
]
if django.VERSION >= (6,):
    # Django's own tasks run on the same engine, and this one is started from the page too.
    TASKS = {"default": {"BACKEND": "task_api.backends.django_tasks.TaskAPIBackend"}}
    TASK_API_BACKGROUND_TASKS.append("demo.functions.convert_temperatures")
TASK_API_INPROCESS_WORKERS = 8
TASK_API_MAX_RUNNING_PER_USER = 10

SPECTACULAR_SETTINGS = {
    "TITLE": "Django Task API demo",
    "VERSION": "2.0.0",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # Not propagated: daphne gives the root logger a handler too, which would
    # print every record (a failed task's traceback) a second time.
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "task_api": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
