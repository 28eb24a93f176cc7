"""The ASGI application of the benchmark project: the task API, the bare consumer and the
peer's (celery-progress) consumer."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from celery_progress.websockets.consumers import ProgressConsumer  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from task_api.routing import websocket_urlpatterns  # noqa: E402

from .consumers import BareConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        path("ws/bare/<str:group>/", BareConsumer.as_asgi()),
                        # The peer, celery-progress, routed as its README shows.
                        path("ws/progress/<str:task_id>/", ProgressConsumer.as_asgi()),
                        *websocket_urlpatterns,
                    ]
                )
            )
        ),
    }
)
