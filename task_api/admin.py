"""Admin pages for task records (the traceback of a failed task is shown only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from task_api.models import TaskBatch, TaskRecord

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TaskRecord]
    _BatchAdmin = admin.ModelAdmin[TaskBatch]
else:
    _ModelAdmin = _BatchAdmin = admin.ModelAdmin


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


@admin.register(TaskBatch)
class TaskBatchAdmin(_BatchAdmin):
    """Browse batches; their state is shown on their tasks' pages."""

    list_display = ["uuid", "owner", "created", "task_count"]
    search_fields = ["uuid", "owner__username"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    readonly_fields = ["uuid", "owner", "session_key", "created", "task_count"]
    ordering = ["-created"]

    @admin.display(description="tasks")
    def task_count(self, batch: TaskBatch) -> int:
        return batch.tasks.count()

    def has_add_permission(self, request: object) -> bool:
        return False
