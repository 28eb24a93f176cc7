"""Publishing task events to the channel layer: the only module that sends them.

Sync code (workers, views) publishes through one long-lived event loop per process,
in a daemon thread, so that channels-redis keeps its connection pool and an event
costs a queue put, not a new loop and connection; frames are sent in order. The
in-memory layer is not thread-safe: its events go out on the server's own loop,
which the consumer hands over on connect. The sender task on that loop is started
there and then, while the loop surely runs; once the loop's shutdown has cancelled
it, nothing is sent (nor started) on that loop any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from task_api import probes
from task_api.conf import task_api_settings
from task_api.engine import runtime
from task_api.protocol import event_message, task_group

logger = logging.getLogger("task_api.engine.publisher")
_running_loop = asyncio._get_running_loop  # the running loop, or None

SEND_TIMEOUT = 2.0
MAX_QUEUED = 10_000
FLUSH_TIMEOUT = 2.0  # at most this long at exit for the last events to go out


class Publisher:
    """Sends frames to task groups from sync code, in order, without blocking."""

    stop_order = 9

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # our own, for layers in Redis
        self._queue: asyncio.Queue[Any] | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._server_queue: asyncio.Queue[Any] | None = None
        self._server_sender: asyncio.Task[None] | None = None
        self._made_for: Any = None  # the configuration of our own loop
        self._own_layer: Any = None  # the layer object of our own loop
        self._thread: threading.Thread | None = None  # runs our own loop
        self._failures = 0
        self._last_failure_log = 0.0
        self._stopped = False

    def bind_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send on this loop (the ASGI server's) when the layer is in memory; called
        on that loop, which starts its sender task unless one runs there already."""
        if _running_loop() is not loop:
            raise RuntimeError("bind_server_loop() must be called on the loop it binds")
        with self._lock:
            sender = self._server_sender
            if self._server_loop is loop and sender is not None and not sender.done():
                return
            queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=MAX_QUEUED)
            self._server_loop, self._server_queue = loop, queue
            self._server_sender = loop.create_task(self._sender(queue))

    def _server_target(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]] | None:
        """The server's loop and queue while its sender runs (not once its shutdown began)."""
        loop, queue, sender = self._server_loop, self._server_queue, self._server_sender
        if loop is None or queue is None or sender is None:
            return None
        if sender.done() or not loop.is_running():
            return None
        return loop, queue

    def reachable(self) -> bool:
        """Whether anybody can receive what is published now: a layer is configured,
        and an in-memory one belongs to a running ASGI server in this process."""
        layer = get_channel_layer(task_api_settings.channel_layer_alias)
        if isinstance(layer, InMemoryChannelLayer):
            return self._server_target() is not None
        return layer is not None

    def publish(
        self, uuid: Any, frame: dict[str, Any], *, wait: bool = False, group: str = ""
    ) -> bool:
        """Queue ``frame`` for the task's group (or ``group``); with ``wait``, block until sent."""
        layer = get_channel_layer(task_api_settings.channel_layer_alias)
        target = None if layer is None else self._target_loop(layer)
        if target is None:
            return False
        loop, queue, layer = target
        future: Future[bool] | None = Future() if wait else None
        item = (layer, group or task_group(uuid), frame, future)
        try:
            loop.call_soon_threadsafe(self._enqueue, queue, item)
        except RuntimeError:  # the loop is closed
            return False
        if future is None:
            return True
        if _running_loop() is loop or (loop is self._server_loop and not loop.is_running()):
            return False  # it would never send while we wait
        try:
            return future.result(timeout=SEND_TIMEOUT + 0.5)
        except Exception:
            return False

    def _target_loop(
        self, layer: Any
    ) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any], Any] | None:
        """The loop to send on, its queue and the layer object to send with."""
        with self._lock:
            if self._stopped:
                return None
            if isinstance(layer, InMemoryChannelLayer):
                self._drop_own_loop()
                server = self._server_target()
                # None: nobody in this process can be listening.
                return None if server is None else (*server, layer)
            # Our own loop is made for a configuration, not for the layer object: two
            # threads that ask for the layer at once may each get an object of their own.
            alias = task_api_settings.channel_layer_alias
            made_for = channel_layers.configs.get(alias)
            loop, queue = self._loop, self._queue
            if loop and queue and self._made_for is made_for and not loop.is_closed():
                return loop, queue, self._own_layer
            self._drop_own_loop()  # made for another configuration
            loop = asyncio.new_event_loop()
            thread = runtime.start_thread("task_api-publisher", _run_until_stopped, loop)
            if thread is None:  # the interpreter exits
                loop.close()
                return None
            queue = asyncio.Queue(maxsize=MAX_QUEUED)
            # Started on the new loop, which runs until _stop_soon(): that cancels it.
            loop.call_soon_threadsafe(lambda: loop.create_task(self._sender(queue)))
            # A layer object of our own: code that closes the shared object's pools
            # from its own loop (celery-progress's close_pools()) would otherwise
            # break the connections this loop keeps.
            own = channel_layers.make_backend(alias)
            self._loop, self._queue, self._thread = loop, queue, thread
            self._made_for, self._own_layer = made_for, own
            return loop, queue, own

    def _drop_own_loop(self) -> None:
        """Stop our own loop, if any; called with the lock held."""
        if self._loop is not None:
            _stop_soon(self._loop)
        self._loop = self._queue = self._thread = self._made_for = self._own_layer = None

    def close(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Send what is queued, then stop our own loop and its thread; publish no more."""
        self.flush(timeout)
        with self._lock:
            thread = self._thread
            self._drop_own_loop()
            self._stopped = True
        if thread is not None:
            thread.join(timeout)

    stop = close

    def _enqueue(
        self, queue: asyncio.Queue[Any], item: tuple[Any, str, dict[str, Any], Any]
    ) -> None:
        """Queue a frame; when the layer has been unreachable long enough to fill
        the queue, drop it (watchers catch up from the database)."""
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self._log_failure(RuntimeError(f"{MAX_QUEUED} events waiting; dropping one"))
            future = item[3]
            if future is not None and not future.done():
                future.set_result(False)

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait up to ``timeout`` seconds until every frame queued so far is sent (at exit:
        a task's last events then reach its watchers at once, not by their re-check)."""
        with self._lock:
            loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return True
        if not loop.is_running() or loop is _running_loop():
            return False  # a stopped loop never sends
        marker: Future[bool] = Future()
        try:
            loop.call_soon_threadsafe(self._enqueue, queue, (None, "", {}, marker))
            return marker.result(timeout=timeout)
        except Exception:
            return False

    async def _sender(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            layer, group, frame, future = await queue.get()
            if not group:  # a flush marker: everything queued before it was sent
                future.set_result(True)
                continue
            sent = False
            try:
                started = time.monotonic()
                # Not wait_for: on Python 3.11 it swallows a cancel that comes once the send
                # is done, and the loop's shutdown then waits forever for this task.
                async with asyncio.timeout(SEND_TIMEOUT):
                    await layer.group_send(group, event_message(group, frame))
                sent = True
                self._failures = 0
                probes.probe.sent(time.monotonic() - started)
            except Exception as exc:
                self._log_failure(exc)
            if future is not None and not future.done():
                future.set_result(sent)

    def _log_failure(self, exc: Exception) -> None:
        probes.probe.send_failed()
        self._failures += 1
        now = time.monotonic()
        if now - self._last_failure_log > 10:
            self._last_failure_log = now
            logger.warning(
                "Could not publish task events (%d failures so far): %r; "
                "watchers will get the state from the database",
                self._failures,
                exc,
            )


def _stop_soon(loop: asyncio.AbstractEventLoop) -> None:
    """Have our own loop cancel its tasks and stop; its thread then closes it."""

    def stop() -> None:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.call_soon(loop.stop)  # after the cancelled tasks have run their last step

    with contextlib.suppress(RuntimeError):  # closed already
        loop.call_soon_threadsafe(stop)


def _run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """Run the loop until :meth:`Publisher.close` stops it, then close it in this thread,
    where channels-redis's close hook may run it once more (the garbage collector
    could run that hook in a thread that runs a loop of its own)."""
    loop.run_forever()
    try:
        loop.close()
    except Exception:
        logger.debug("Could not close the publisher's loop", exc_info=True)


def current() -> Publisher:
    """This process's publisher."""
    return runtime.get(Publisher)


def publish(uuid: Any, frame: dict[str, Any], *, wait: bool = False, group: str = "") -> bool:
    """Send ``frame`` to the group of task ``uuid``, or to ``group`` (see :class:`Publisher`)."""
    return current().publish(uuid, frame, wait=wait, group=group)
