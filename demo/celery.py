"""The demo's Celery app: ``REDIS_URL=redis://... celery -A demo worker``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

app = Celery("demo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _require_broker(**kwargs: Any) -> None:
    """A worker without ``REDIS_URL`` would wait on an in-memory queue nobody sends to."""
    if not os.environ.get("REDIS_URL"):
        raise SystemExit(
            "REDIS_URL is not set: start the worker with the broker the web process uses, "
            "e.g. REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/celery -A demo worker -l info"
        )
