"""The task admin: a live list with filters and actions, and each task's page (the
traceback of a failed task is shown only here)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from task_api.admin import actions, live
from task_api.admin.base import TaskAPIAdmin
from task_api.admin.filters import BatchFilter
from task_api.admin.sharing import revoke_share_links
from task_api.engine import retention
from task_api.models import TaskRecord


@admin.register(TaskRecord)
class TaskRecordAdmin(TaskAPIAdmin):
    """Browse, follow and operate tasks."""

    list_display = ["uuid", "name", "status_label", "progress_bar", "owner", "created", "finished"]
    list_filter = [
        "status",
        "name",
        ("owner", admin.RelatedOnlyFieldListFilter),
        BatchFilter,
        "created",
    ]
    search_fields = ["uuid", "name", "owner__username"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    ordering = ["-created"]
    actions = [
        actions.cancel_tasks,
        actions.run_again,
        actions.purge_finished,
        revoke_share_links,
    ]
    fieldsets = [
        (None, {"fields": ["uuid", "name", "status_label", "progress_bar", "owner", "batch"]}),
        ("Inputs and outcome", {"fields": ["inputs", "outputs", "error", "traceback"]}),
        ("Reports", {"fields": ["progress", "target", "messages", "streams"]}),
        (
            "Life",
            {
                "fields": [
                    "created",
                    "run_after",
                    "started",
                    "heartbeat",
                    "finished",
                    "attempt",
                    "seq",
                    "cancel_requested",
                    "session_key",
                    "idempotency_key",
                ]
            },
        ),
    ]
    readonly_fields = [
        *(f.name for f in TaskRecord._meta.fields),
        "status_label",
        "progress_bar",
    ]

    @admin.display(description="status", ordering="status")
    def status_label(self, record: TaskRecord) -> SafeString:
        return live.status_label(record.uuid, record.status, record.cancel_requested)

    @admin.display(description="progress")
    def progress_bar(self, record: TaskRecord) -> SafeString:
        options = self.live_options()
        return live.bar("task", record.uuid, record.status, record.progress, record.target, options)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Lists delete through the purge action, which keeps unfinished tasks.
        finished = obj is not None and obj.is_finished
        return finished and super().has_delete_permission(request, obj)

    def has_purge_permission(self, request: HttpRequest) -> bool:
        """Whether the purge action is offered: ``delete`` on the model."""
        return super().has_delete_permission(request)

    def delete_model(self, request: HttpRequest, obj: TaskRecord) -> None:
        retention.remove_finished(TaskRecord.objects.filter(pk=obj.pk))
