"""The admin's actions on tasks and batches. Each goes through the engine as every other
door does (cancels and starts through :mod:`task_api.engine.service`, so limits, signals
and dispatch apply); none writes a row itself. Cancel and run again need ``change`` on the
model, purge ``delete``: Django hides an action from whoever lacks its permission."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from task_api.engine import retention, service
from task_api.exceptions import TaskAPIError, TaskFinished
from task_api.models import UNFINISHED_STATUSES, TaskBatch, TaskRecord, TaskStatus


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


@admin.action(description="Cancel the selected tasks", permissions=["change"])
def cancel_tasks(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[TaskRecord]
) -> None:
    """Cancel pending tasks at once and ask running ones to stop; finished ones stay."""
    records = list(queryset.filter(status__in=UNFINISHED_STATUSES).order_by("id"))
    cancelled = asked = 0
    for record in records:
        try:
            record = service.cancel(record)
        except TaskFinished:
            continue
        if record.status == TaskStatus.CANCELLED:
            cancelled += 1
        elif record.status == TaskStatus.RUNNING:
            asked += 1
    parts = []
    if cancelled:
        parts.append(f"cancelled {_tasks(cancelled)}")
    if asked:
        parts.append(f"asked {_tasks(asked)} to stop")
    if finished := queryset.count() - cancelled - asked:
        parts.append(f"{_tasks(finished)} had already finished")
    level = messages.SUCCESS if cancelled or asked else messages.WARNING
    message = "; ".join(parts)
    modeladmin.message_user(request, message[:1].upper() + message[1:] + ".", level)


@admin.action(description="Run the selected tasks again", permissions=["change"])
def run_again(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[TaskRecord]
) -> None:
    """Start each selected task anew: same task, inputs and owner."""
    started = 0
    for record in queryset.select_related("owner").order_by("id"):
        try:
            service.run_again(record)
        except TaskAPIError as exc:
            error = f"Could not run {record.name} {record.uuid} again: {exc}"
            modeladmin.message_user(request, error, messages.ERROR)
        else:
            started += 1
    if started:
        modeladmin.message_user(request, f"Started {_tasks(started)} again.", messages.SUCCESS)


@admin.action(description="Delete the selected finished tasks", permissions=["purge"])
def purge_finished(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[TaskRecord]
) -> TemplateResponse | None:
    """Delete the finished ones among the selected tasks, with their stream blocks, share
    links and the batches they leave empty, once a confirmation page lists them."""
    if request.POST.get("post") != "yes":
        return _purge_confirmation(modeladmin, request, queryset)
    selected = queryset.count()
    removed = retention.remove_finished(queryset)
    message = f"Deleted {_tasks(removed)}"
    if kept := selected - removed:
        message += f"; kept {_tasks(kept)} that {'has' if kept == 1 else 'have'} not finished"
    level = messages.SUCCESS if removed else messages.WARNING
    modeladmin.message_user(request, message + ".", level)
    return None


def _purge_confirmation(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[TaskRecord]
) -> TemplateResponse:
    """The page that lists what a purge deletes and asks before it does."""
    finished = list(queryset.exclude(status__in=UNFINISHED_STATUSES).order_by("-finished"))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Delete finished tasks",
        "opts": modeladmin.model._meta,
        "finished": finished,
        "unfinished": queryset.filter(status__in=UNFINISHED_STATUSES).count(),
        "selected": list(queryset.values_list("pk", flat=True)),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/task_api/purge_confirmation.html", context)


@admin.action(
    description="Cancel the unfinished tasks of the selected batches", permissions=["change"]
)
def cancel_batches(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[TaskBatch]
) -> None:
    """Cancel every unfinished task of each selected batch."""
    asked = sum(service.cancel_batch(batch) for batch in queryset)
    level = messages.SUCCESS if asked else messages.WARNING
    modeladmin.message_user(request, f"Cancelled or asked to stop {_tasks(asked)}.", level)
