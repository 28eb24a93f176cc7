"""System checks for the ``TASK_API_*`` settings.

- ``task_api.E001``: an entry cannot be imported.
- ``task_api.E002``: an entry is not a ``Task`` subclass, or has no name.
- ``task_api.E003``: two task classes share a name.
- ``task_api.E004``: the backend cannot be imported, or is not a backend.
- ``task_api.E005``: a ``@task`` function's parameter has no annotation, or no JSON form.
- ``task_api.E007``: an ``OPTIONS`` name of ``TaskAPIBackend`` is no setting (its ``check()``).
- ``task_api.E008``: ``TASKS`` names ``TaskAPIBackend`` on Django 5.2 without ``django-tasks``.
- ``task_api.W001``: idle WebSockets would be closed by the Redis layer's socket timeout.
- ``task_api.W002``: a SQLite database of the task tables that concurrent writers find locked.
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import django
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from task_api.conf import task_api_settings
from task_api.exceptions import ConfigurationError


@register()
def check_tasks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report unimportable, non-Task and duplicate task entries."""
    from task_api.functions import FunctionTask, SignatureError, unannotated
    from task_api.registry import load_entry

    errors: list[CheckMessage] = []
    names: dict[str, Any] = {}
    for entry in task_api_settings.background_tasks:
        try:
            cls = load_entry(entry)
        except ConfigurationError as exc:
            check_id = "E001" if isinstance(exc.__cause__, ImportError) else "E002"
            check_id = "E005" if isinstance(exc, SignatureError) else check_id
            errors.append(Error(str(exc), obj=entry, id=f"task_api.{check_id}"))
            continue
        if issubclass(cls, FunctionTask):
            errors.extend(
                Error(
                    f"{cls.name}: parameter {name!r} has no annotation; a function started "
                    "over REST needs a type for every parameter.",
                    hint="Annotate it, e.g. with int, str, list[str] or typing.Any.",
                    obj=entry,
                    id="task_api.E005",
                )
                for name in unannotated(cls)
            )
        other = names.setdefault(cls.name, cls)
        if other is not cls:
            errors.append(
                Error(
                    f"Task name {cls.name!r} is used by both {other.__module__}."
                    f"{other.__qualname__} and {cls.__module__}.{cls.__qualname__}.",
                    hint="Give each task class a unique name.",
                    obj=entry,
                    id="task_api.E003",
                )
            )
    return errors


@register()
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a ``TASK_API_BACKEND`` that cannot be imported or is not a backend."""
    from task_api.engine.dispatch import get_backend

    try:
        get_backend()
    except ConfigurationError as exc:
        return [Error(str(exc), id="task_api.E004")]
    return []


@register()
def check_task_framework(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a ``TASKS`` entry naming ``TaskAPIBackend`` where no task framework is there."""
    from task_api.conf import BACKEND_PATH

    tasks = getattr(settings, "TASKS", None) or {}
    aliases = [alias for alias, entry in tasks.items() if entry.get("BACKEND") == BACKEND_PATH]
    if not aliases:
        return []
    try:
        import task_api.compat  # noqa: F401
    except ImportError as exc:
        return [
            Error(
                f"TASKS[{aliases[0]!r}] names TaskAPIBackend, but Django {django.get_version()} "
                "has no django.tasks and the django-tasks backport cannot be imported.",
                hint=str(exc),
                obj=aliases[0],
                id="task_api.E008",
            )
        ]
    return []


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn of Redis layer hosts whose socket timeout ends channels-redis's blocking receive.

    channels-redis waits up to ``brpop_timeout`` (5 s) for a message on one Redis socket;
    redis-py 8 gives sockets a 5 s timeout by default, so an idle WebSocket's receive fails and
    the connection closes with code 1011. (``RedisPubSubChannelLayer`` polls every 0.1 s.)
    """
    alias = task_api_settings.channel_layer_alias
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get(alias, {})
    if layer.get("BACKEND") != "channels_redis.core.RedisChannelLayer":
        return []
    try:
        from channels_redis.core import RedisChannelLayer
        from redis.asyncio.connection import AbstractConnection
    except ImportError:
        return []
    receive = RedisChannelLayer.brpop_timeout
    # redis-py's default socket timeout: None before 8.0, 5 s since.
    default = inspect.signature(AbstractConnection.__init__).parameters["socket_timeout"].default
    default = default if isinstance(default, int | float) else None
    warnings: list[CheckMessage] = []
    for host in layer.get("CONFIG", {}).get("hosts", []) or []:
        timeout = _socket_timeout(host, default)
        if timeout is not None and timeout <= receive:
            address = host.get("address", host) if isinstance(host, dict) else host
            warnings.append(
                Warning(
                    f"CHANNEL_LAYERS[{alias!r}] host {address!r} has a socket timeout of "
                    f"{timeout!r} s, not above channels-redis's {receive} s blocking receive: "
                    "WebSockets that get no message for that long are closed with code 1011.",
                    hint=f'Give the host a longer timeout: {{"address": {address!r}, '
                    '"socket_timeout": 30}, or add ?socket_timeout=30 to its URL.',
                    obj=f"CHANNEL_LAYERS[{alias!r}]",
                    id="task_api.W001",
                )
            )
    return warnings


def _socket_timeout(host: Any, default: float | None) -> float | None:
    if isinstance(host, dict):
        if "socket_timeout" in host:
            value = host["socket_timeout"]
            return float(value) if value is not None else None
        host = host.get("address", "")
    if isinstance(host, str):
        query = parse_qs(urlsplit(host).query)
        if "socket_timeout" in query:
            return float(query["socket_timeout"][0])
    return default


#: The ``OPTIONS`` of a SQLite database that concurrent writers share without "database is locked".
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
_SQLITE_MIN_TIMEOUT = 10.0


@register()
def check_sqlite(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn of a SQLite database of the task tables that concurrent writers find locked.

    WAL lets reads go on during a write; ``IMMEDIATE`` makes a transaction take the write lock
    when it begins, waiting up to ``timeout`` (a deferred one that read first fails at once);
    Django's default of 5 s lost starts when 32 users started 600 tasks at once. The options
    are read, not the file: a file put in WAL mode by hand still gets the warning.
    """
    from django.db import connections, router

    from task_api.models import TaskBatch, TaskRecord

    warnings: list[CheckMessage] = []
    for alias in sorted({router.db_for_write(model) for model in (TaskRecord, TaskBatch)}):
        if connections[alias].vendor != "sqlite":
            continue
        options = connections[alias].settings_dict.get("OPTIONS") or {}
        if problems := _sqlite_problems(options):
            warnings.append(
                Warning(
                    f"DATABASES[{alias!r}] is SQLite {', '.join(problems)}: concurrent "
                    "starts and progress writes wait for its write lock, and some fail with "
                    "'database is locked' (a start answers 503).",
                    hint=f"Set DATABASES[{alias!r}]['OPTIONS'] = {SQLITE_OPTIONS!r}",
                    obj=f"DATABASES[{alias!r}]",
                    id="task_api.W002",
                )
            )
    return warnings


def _sqlite_problems(options: dict[str, Any]) -> list[str]:
    init = str(options.get("init_command", ""))
    problems = []
    if not re.search(r"journal_mode\s*=\s*['\"]?wal\b", init, re.IGNORECASE):
        problems.append("without WAL (PRAGMA journal_mode=WAL in init_command)")
    if str(options.get("transaction_mode", "")).upper() not in ("IMMEDIATE", "EXCLUSIVE"):
        problems.append("without transaction_mode 'IMMEDIATE'")
    pragma = re.search(r"busy_timeout\s*=\s*(\d+)", init, re.IGNORECASE)
    timeout = int(pragma[1]) / 1000 if pragma else float(options.get("timeout", 5))
    if timeout < _SQLITE_MIN_TIMEOUT:
        problems.append(f"with a {timeout:g} s lock timeout (under {_SQLITE_MIN_TIMEOUT:g} s)")
    return problems
