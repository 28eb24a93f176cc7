"""Prometheus metrics of the tasks, the live connections and the events (opt-in).

``TASK_API_METRICS = True`` has every process (web servers, Celery workers) count what it
does, from the lifecycle signals and the hooks of :mod:`task_api.probes`; the view of
``include("task_api.metrics.urls")`` serves them at ``/tasks/metrics/``. With
``PROMETHEUS_MULTIPROC_DIR`` set, the processes of one host add up (prometheus-client's
multiprocess mode). Nothing here imports prometheus-client before :func:`install`.
"""

from __future__ import annotations

import importlib.util
import logging
import os

logger = logging.getLogger("task_api.metrics")

EXTRA = 'pip install "django-task-api[metrics]"'


def available() -> bool:
    """Whether prometheus-client can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("prometheus_client") is not None
    except (ImportError, ValueError):  # hidden on purpose (``sys.modules[name] = None``)
        return False


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, when it is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def install() -> bool:
    """Count in this process from now on; ``False`` (and a warning) without prometheus-client."""
    if not available():
        logger.warning("TASK_API_METRICS is on but prometheus-client is missing: %s", EXTRA)
        return False
    from task_api.metrics import receivers

    receivers.connect()
    return True


def uninstall() -> None:
    """Stop counting in this process (what was counted stays)."""
    if available():
        from task_api.metrics import receivers

        receivers.disconnect()
