"""WebSocket routes: add ``websocket_urlpatterns`` to your ``URLRouter``."""

from __future__ import annotations

from django.urls import path

from task_api.consumers import TaskConsumer

websocket_urlpatterns = [
    path("ws/tasks/", TaskConsumer.as_asgi(), name="task_api-ws"),
]
