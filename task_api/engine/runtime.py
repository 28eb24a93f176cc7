"""The background parts of this process, with one lifecycle.

The publisher, the flusher, the batch notifier, the in-process pool and the Celery
sweeper are each made on first use; a forked child starts with none (threads do not
survive a fork). At exit (``atexit``, or ``worker_process_shutdown`` in a Celery
pool process, which skips it) they stop once, in their ``stop_order``, the
publisher last so that it sends what is queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("task_api.engine.runtime")

P = TypeVar("P")


class Runtime:
    """The background parts of one process, by class; each has ``stop_order`` and ``stop()``."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop every part without stopping it (in a forked child: its threads are not there)."""
        self.parts: dict[type[Any], Any] = {}
        self.stopping = self.stopped = False
        self._lock = threading.RLock()

    def get(self, kind: type[P]) -> P:
        """The process's part of class ``kind``, made on first use."""
        part: P | None = self.parts.get(kind)
        if part is None:
            with self._lock:
                part = self.parts.get(kind)
                if part is None:
                    part = self.parts[kind] = kind()
                    if self.stopped:
                        part.stop()  # type: ignore[attr-defined]
        return part

    def stop(self) -> None:
        """Stop every part, in ``stop_order``; those made meanwhile too. Idempotent."""
        with self._lock:
            if self.stopping:
                return
            self.stopping = True
        done: set[int] = set()
        while True:
            with self._lock:
                left = [part for part in self.parts.values() if id(part) not in done]
                if not left:
                    self.stopped = True
                    return
            part = min(left, key=lambda part: part.stop_order)
            done.add(id(part))
            try:
                part.stop()
            except Exception:
                logger.exception("Could not stop %s", type(part).__name__)


class Worker:
    """A part with one daemon thread, started once (never after the stop) and woken by
    ``_wakeup``; ``stop()`` wakes it and waits a second at most for it to end."""

    thread_name = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self, *args: Any) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopped:
                    self._thread = start_thread(self.thread_name, self._run, *args)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wakeup.set()
        if thread is not None:
            thread.join(1.0)

    def _run(self, *args: Any) -> None:
        raise NotImplementedError


def start_thread(name: str, target: Callable[..., object], *args: Any) -> threading.Thread | None:
    """Start a part's daemon thread; ``None`` once the interpreter exits (no new threads then)."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:  # can't create new thread at interpreter shutdown
        return None
    return thread


#: This process's runtime.
RUNTIME = Runtime()
get = RUNTIME.get
stop = RUNTIME.stop
atexit.register(stop)
os.register_at_fork(after_in_child=RUNTIME.forget)
