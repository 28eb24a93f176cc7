"""URLs of the benchmark project: the test project's plus the bare baseline views."""

from __future__ import annotations

from django.urls import path

from tests.project.urls import urlpatterns as project_urlpatterns

from .views import BareStartView, BareTaskView, HandStartView

urlpatterns = [
    path("bench/bare/start/", BareStartView.as_view()),
    path("bench/hand/start/", HandStartView.as_view()),
    path("bench/bare/tasks/<uuid:uuid>/", BareTaskView.as_view()),
    *project_urlpatterns,
]
