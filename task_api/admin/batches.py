"""The batch admin: each batch's aggregate (its status, counts per status and summed
progress, derived from its tasks as the API derives them), kept live, and a link to its
tasks in the task list."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from task_api.admin import actions, live
from task_api.admin.base import TaskAPIAdmin
from task_api.admin.sharing import revoke_share_links
from task_api.models import TaskBatch
from task_api.store.aggregate import Aggregate, aggregate


def _aggregate(batch: TaskBatch) -> Aggregate:
    """The batch's aggregate, read once per row (one query)."""
    cached: Aggregate | None = getattr(batch, "_admin_aggregate", None)
    if cached is None:
        cached = aggregate(batch.pk)
        batch._admin_aggregate = cached  # type: ignore[attr-defined]
    return cached


BATCH_FIELDS = (
    "uuid",
    "owner",
    "session_key",
    "created",
    "status_label",
    "progress_bar",
    "counts",
    "tasks_link",
)


@admin.register(TaskBatch)
class TaskBatchAdmin(TaskAPIAdmin):
    """Browse, follow and cancel batches."""

    list_display = [
        "uuid",
        "owner",
        "created",
        "status_label",
        "progress_bar",
        "counts",
        "tasks_link",
    ]
    list_filter = [("owner", admin.RelatedOnlyFieldListFilter), "created"]
    search_fields = ["uuid", "owner__username"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    ordering = ["-created"]
    actions = [actions.cancel_batches, revoke_share_links]
    fields = readonly_fields = BATCH_FIELDS

    @admin.display(description="status")
    def status_label(self, batch: TaskBatch) -> SafeString:
        return live.status_label(batch.uuid, _aggregate(batch).status)

    @admin.display(description="progress")
    def progress_bar(self, batch: TaskBatch) -> SafeString:
        agg = _aggregate(batch)
        options = self.live_options()
        return live.bar("batch", batch.uuid, agg.status, agg.progress, agg.target, options)

    @admin.display(description="tasks per status")
    def counts(self, batch: TaskBatch) -> SafeString:
        return live.counts(batch.uuid, _aggregate(batch).counts)

    @admin.display(description="tasks")
    def tasks_link(self, batch: TaskBatch) -> SafeString:
        url = reverse(f"{self.admin_site.name}:task_api_taskrecord_changelist")
        total = _aggregate(batch).total
        noun = "task" if total == 1 else "tasks"
        return format_html('<a href="{}?batch={}">{} {}</a>', url, batch.uuid, total, noun)
