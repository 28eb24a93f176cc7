from django.contrib import admin
from django.urls import include, path

from task_api.functions import django_tasks_available

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("task_api.urls")),
    path("", include("tests.project.pages")),
]

if django_tasks_available():
    from tests.project.readme_views import start_countdown

    urlpatterns += [
        path("", include("tests.project.function_views")),
        path("readme/countdown/", start_countdown),
    ]
