"""The readiness check: ``path("", include("task_api.health.urls"))`` serves ``/tasks/health/``."""

from __future__ import annotations

from django.urls import path

from task_api.health.views import health

app_name = "task_api_health"

urlpatterns = [path("tasks/health/", health, name="health")]
