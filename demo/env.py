"""Reading the demo's configuration from environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


def env_list(name: str, default: str) -> list[str]:
    """A comma-separated environment variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_flag(name: str, default: bool = False) -> bool:
    """An environment variable read as a yes/no flag (``1``, ``true``, ``yes``, ``on``)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def sqlite_database(path: Path) -> dict[str, Any]:
    """A SQLite database that a web process and a worker can share."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def database_from_url(url: str) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for ``postgres://user:password@host:port/name``.

    Query parameters (``?sslmode=require``) become connection options.
    ``sqlite:///absolute/path.sqlite3`` is accepted too.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if not path or path == "/":
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no SQLite file.")
        return sqlite_database(Path(path))
    if parts.scheme not in _POSTGRES_SCHEMES:
        raise ImproperlyConfigured(
            f"Unsupported DATABASE_URL scheme {parts.scheme!r}; "
            "use postgres://user:password@host:port/name or sqlite:///path."
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured(f"DATABASE_URL {_redacted(url)!r} names no database.")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(
            f"DATABASE_URL {_redacted(url)!r} has an invalid port."
        ) from None
    database: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port or ""),
    }
    options = dict(parse_qsl(parts.query))
    if options:
        database["OPTIONS"] = options
    return database


def _redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
