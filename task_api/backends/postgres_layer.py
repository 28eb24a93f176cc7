"""channels-postgres's channel layer, fixed for a process with more than one event loop
and for database restarts (``CHANNEL_LAYERS`` ``BACKEND``
``"task_api.backends.postgres_layer.PostgresChannelLayer"``, same ``CONFIG``).

channels-postgres 1.1 keeps one connection pool per process, bound to the event loop
that opened it: the publisher's loop and the server's then share it, and a contended
pool deadlocks both. Its listener (one ``LISTEN`` connection per process) ends for good
when the database restarts. Here each event loop has a pool of its own, whose connections
are checked before use, and the listener connects again until it is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import psycopg
import psycopg_pool
from channels_postgres import core
from channels_postgres.db import DatabaseLayer

logger = logging.getLogger("task_api.backends.postgres_layer")

RECONNECT_DELAY = 1.0


class PerLoopDatabaseLayer(DatabaseLayer):  # type: ignore[misc]
    """channels-postgres's queries, with one pool per event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, psycopg_pool.AsyncConnectionPool
        ] = weakref.WeakKeyDictionary()

    async def get_db_pool(self, db_params: dict[str, Any]) -> psycopg_pool.AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:

            async def configure(connection: psycopg.AsyncConnection[Any]) -> None:
                await connection.set_autocommit(True)

            options = {"check": psycopg_pool.AsyncConnectionPool.check_connection}
            pool = self._pools[loop] = psycopg_pool.AsyncConnectionPool(
                conninfo=psycopg.conninfo.make_conninfo(conninfo="", **db_params),
                open=False,
                configure=configure,
                **{**options, **self.psycopg_options},
            )
            await pool.open(wait=True)
        return pool


class PostgresChannelLayer(core.PostgresChannelLayer):  # type: ignore[misc]
    """channels-postgres's layer with :class:`PerLoopDatabaseLayer` and a lasting listener."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.django_db = PerLoopDatabaseLayer(
            kwargs.get("PSYCOPG_OPTIONS", {}), self.db_params, logger=core.logger
        )

    async def listen_to_all_channels(self) -> None:
        while True:
            try:
                await super().listen_to_all_channels()
                return  # asked to stop
            except Exception as exc:
                logger.warning("Lost the channel layer's LISTEN connection: %r; reconnecting", exc)
                await asyncio.sleep(RECONNECT_DELAY)
