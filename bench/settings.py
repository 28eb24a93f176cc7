"""Settings of the benchmark project: the test project plus bench-only tasks, views and routes.

``BENCH_PROGRESS_INTERVAL`` sets ``TASK_API_PROGRESS_INTERVAL`` (the worker is
restarted to change it).
"""

from __future__ import annotations

import os

from tests.project.settings import *  # noqa: F403
from tests.project.settings import (
    CHANNEL_LAYERS,
    DATABASES,
    INSTALLED_APPS,
    REDIS_URL,
    TASK_API_BACKGROUND_TASKS,
)

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
ASGI_APPLICATION = "bench.asgi.application"

TASK_API_BACKGROUND_TASKS = [
    *TASK_API_BACKGROUND_TASKS,
    "bench.tasks.Noop",
    "bench.tasks.Ticker",
    "bench.tasks.StreamWriter",
    "bench.tasks.Spin",
    "bench.tasks.LateBurst",
    "bench.tasks.Steps",
]
TASK_API_PROGRESS_INTERVAL = float(os.environ.get("BENCH_PROGRESS_INTERVAL", "0.1"))
# Connections kept open, as a PostgreSQL deployment keeps them: with Django's defaults
# every request connects anew, and Celery's Django fixup closes the connections around
# every task unless CELERY_DB_REUSE_MAX is set; the server forks a process for each
# connection (finding 30). Under ASGI, Django's docs advise a pool, not CONN_MAX_AGE
# (a request thread's connection would outlive its thread). BENCH_DB_POOL=0 measures
# the defaults. Up to 16 connections a process: the bench's own threads (the peer's and
# the streams' clients) hold one each while they run, and 4 left them waiting 30 s.
if os.environ.get("BENCH_DB_POOL", "1") != "0" and DATABASES["default"]["ENGINE"].endswith(
    "postgresql"
):
    for _database in DATABASES.values():
        _database["OPTIONS"] = {
            **_database.get("OPTIONS", {}),
            "pool": {"min_size": 1, "max_size": 16},
        }
    CELERY_DB_REUSE_MAX = 1000  # tasks between two closes
# The per-user limit query still runs on every start; a load test just never reaches it.
TASK_API_MAX_RUNNING_PER_USER = 1_000_000

# redis-py 8 reads with a 5 s socket timeout, the same as channels-redis's BZPOPMIN
# wait, so a consumer idle for 5 s may die with TimeoutError (WebSocket closed with
# 1011); and its pool raises past 100 connections in flight instead of waiting.
# BENCH_PROJECT_LAYER=1 keeps the test project's layer to show it.
if REDIS_URL and os.environ.get("BENCH_PUBSUB_LAYER"):
    # channels-redis's pub/sub layer: one PUBLISH per group_send, no per-channel lists.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
elif REDIS_URL and os.environ.get("BENCH_README_LAYER"):
    # The layer settings the README gives, with redis-py's default pool.
    CHANNEL_LAYERS = {
        "default": {
            **CHANNEL_LAYERS["default"],
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": 1000,
            },
        }
    }
elif REDIS_URL and not os.environ.get("BENCH_PROJECT_LAYER"):
    CHANNEL_LAYERS = {
        "default": {
            **CHANNEL_LAYERS["default"],
            "CONFIG": {
                **CHANNEL_LAYERS["default"]["CONFIG"],
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 10_000}],
            },
        }
    }

# celery-progress (the peer scenario) reads and writes task states in a result
# backend. The library's tasks and the raw baselines are ignore_result=True, so
# it costs them nothing.
if REDIS_URL:
    CELERY_RESULT_BACKEND = REDIS_URL

# Basic authentication checks the password on every request: with the default
# PBKDF2 hasher that alone costs tens of milliseconds and would hide the rest.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"task_api": {"handlers": ["console"], "level": "WARNING"}},
}
