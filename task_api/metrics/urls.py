"""The metrics page: ``path("", include("task_api.metrics.urls"))`` serves ``/tasks/metrics/``."""

from __future__ import annotations

from django.urls import path

from task_api.metrics.views import metrics

app_name = "task_api_metrics"

urlpatterns = [path("tasks/metrics/", metrics, name="metrics")]
