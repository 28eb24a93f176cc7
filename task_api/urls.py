"""URLs of the REST API: ``include("task_api.urls")``. No API root is served."""

from __future__ import annotations

from django.urls import path

from .schema import TaskSchemaView
from .views import TaskCancelView, TaskCatalogView, TaskDetailView, TaskListView

app_name = "task_api"

urlpatterns = [
    path("tasks/", TaskListView.as_view(), name="task-list"),
    path("tasks/catalog/", TaskCatalogView.as_view(), name="task-catalog"),
    path("tasks/schema/", TaskSchemaView.as_view(), name="task-schema"),
    path("tasks/<uuid:uuid>/", TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<uuid:uuid>/cancel/", TaskCancelView.as_view(), name="task-cancel"),
]
