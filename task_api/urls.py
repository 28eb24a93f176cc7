"""URLs of the REST API: ``include("task_api.urls")``. No API root is served."""

from __future__ import annotations

from django.urls import path

from task_api.consumers.events import BatchEventsView, TaskEventsView
from task_api.views.batches import BatchCancelView, BatchDetailView, BatchListView
from task_api.views.schema import TaskSchemaView
from task_api.views.sharing import BatchRevokeView, BatchShareView, TaskRevokeView, TaskShareView
from task_api.views.streams import TaskStreamView
from task_api.views.tasks import TaskCancelView, TaskCatalogView, TaskDetailView, TaskListView

app_name = "task_api"

urlpatterns = [
    path("tasks/", TaskListView.as_view(), name="task-list"),
    path("tasks/catalog/", TaskCatalogView.as_view(), name="task-catalog"),
    path("tasks/schema/", TaskSchemaView.as_view(), name="task-schema"),
    path("tasks/<uuid:uuid>/", TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<uuid:uuid>/cancel/", TaskCancelView.as_view(), name="task-cancel"),
    path("tasks/<uuid:uuid>/streams/<str:stream>/", TaskStreamView.as_view(), name="task-stream"),
    path("tasks/<uuid:uuid>/events/", TaskEventsView.as_view(), name="task-events"),
    path("tasks/<uuid:uuid>/share/", TaskShareView.as_view(), name="task-share"),
    path("tasks/<uuid:uuid>/share/revoke/", TaskRevokeView.as_view(), name="task-share-revoke"),
    path("tasks/batches/", BatchListView.as_view(), name="batch-list"),
    path("tasks/batches/<uuid:uuid>/", BatchDetailView.as_view(), name="batch-detail"),
    path("tasks/batches/<uuid:uuid>/cancel/", BatchCancelView.as_view(), name="batch-cancel"),
    path("tasks/batches/<uuid:uuid>/events/", BatchEventsView.as_view(), name="batch-events"),
    path("tasks/batches/<uuid:uuid>/share/", BatchShareView.as_view(), name="batch-share"),
    path(
        "tasks/batches/<uuid:uuid>/share/revoke/",
        BatchRevokeView.as_view(),
        name="batch-share-revoke",
    ),
]
