"""Admin pages for task records (the traceback of a failed task is shown only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from .models import TaskRecord

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TaskRecord]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(TaskRecord)
class TaskRecordAdmin(_ModelAdmin):
    """Browse and inspect tasks."""

    list_display = ["uuid", "name", "status", "progress", "target", "owner", "created", "finished"]
    list_filter = ["status", "name", "created"]
    search_fields = ["uuid", "name", "owner__username"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    readonly_fields = [f.name for f in TaskRecord._meta.fields]
    ordering = ["-created"]

    def has_add_permission(self, request: object) -> bool:
        return False
