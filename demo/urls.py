"""The demo page at ``/`` and the task API under ``/tasks/``."""

from __future__ import annotations

from django.urls import include, path

from demo.views import index

urlpatterns = [
    path("", index, name="demo-index"),
    path("", include("task_api.urls")),
]
