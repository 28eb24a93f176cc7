"""The demo page at ``/``, a shared run at ``/share/`` and the task API under ``/tasks/``."""

from __future__ import annotations

from django.urls import include, path

from demo.views import index, share

urlpatterns = [
    path("", index, name="demo-index"),
    path("share/", share, name="demo-share"),
    path("", include("task_api.urls")),
]
