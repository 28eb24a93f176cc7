"""The task record: one row per task started through the API."""

from __future__ import annotations

import uuid as uuid_lib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TaskStatus(models.TextChoices):
    """Where a task is in its life; the last three are terminal."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
UNFINISHED_STATUSES = (TaskStatus.PENDING, TaskStatus.RUNNING)


class TaskRecordQuerySet(models.QuerySet["TaskRecord"]):
    """Queries on task records."""

    def unfinished(self) -> TaskRecordQuerySet:
        return self.filter(status__in=UNFINISHED_STATUSES)


class TaskBatch(models.Model):
    """Tasks started together and watched as one (see :mod:`task_api.batches`)."""

    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "batch"
        verbose_name_plural = "batches"
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"batch {self.uuid}"


class TaskRecord(models.Model):
    """A task's inputs, live state and result."""

    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    name = models.CharField("task", max_length=200)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    progress = models.BigIntegerField(null=True, blank=True)
    target = models.BigIntegerField(null=True, blank=True)
    messages = models.JSONField(default=list, blank=True)
    #: How many chunks each stream holds: ``{"answer": 120}``.
    streams = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    traceback = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    #: A deferred task waits until then (``run_after`` of Django's tasks).
    run_after = models.DateTimeField(null=True, blank=True)
    #: The trace context of the span that started the task (OpenTelemetry), if any.
    trace = models.JSONField(default=dict, blank=True, editable=False)
    seq = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    batch = models.ForeignKey(
        TaskBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )

    objects = TaskRecordQuerySet.as_manager()

    class Meta:
        verbose_name = "task"
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created"], name="task_api_owner_created"),
            models.Index(fields=["owner", "status"], name="task_api_owner_status"),
            models.Index(fields=["owner", "name", "-created"], name="task_api_owner_name"),
            models.Index(fields=["session_key", "-created"], name="task_api_session_created"),
            models.Index(fields=["status", "heartbeat"], name="task_api_status_heartbeat"),
            models.Index(fields=["finished"], name="task_api_finished"),
        ]
        constraints = [
            # One task per owner and key: a double click starts one task.
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(owner__isnull=False) & ~Q(idempotency_key=""),
                name="task_api_owner_idempotency",
            ),
            models.UniqueConstraint(
                fields=["session_key", "idempotency_key"],
                condition=Q(owner__isnull=True) & ~Q(idempotency_key=""),
                name="task_api_session_idempotency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.uuid} ({self.status})"

    @property
    def is_finished(self) -> bool:
        """Whether the task reached a terminal status."""
        return self.status in TERMINAL_STATUSES


class StreamBlock(models.Model):
    """Chunks of one stream of a task, stored together by one flush: positions ``start``
    up to ``end`` (excluded). Removed with their task."""

    task = models.ForeignKey(TaskRecord, on_delete=models.CASCADE, related_name="+")
    stream = models.CharField(max_length=40)
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    size = models.PositiveIntegerField(help_text="bytes of the chunks")
    chunks = models.JSONField(default=list)

    class Meta:
        verbose_name = "stream block"
        constraints = [
            models.UniqueConstraint(
                fields=["task", "stream", "start"], name="task_api_stream_block_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream} [{self.start}, {self.end}) of task {self.task_id}"


class ShareLink(models.Model):
    """A read-only grant on one task or one batch (and its tasks) to whoever holds its token,
    until it expires or is revoked. Only the token's SHA-256 is stored."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    task = models.ForeignKey(
        TaskRecord, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    batch = models.ForeignKey(
        TaskBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    can_cancel = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = "share link"
        constraints = [
            models.CheckConstraint(
                condition=Q(task__isnull=False, batch__isnull=True)
                | Q(task__isnull=True, batch__isnull=False),
                name="task_api_share_one_object",
            )
        ]

    def __str__(self) -> str:
        target = f"task {self.task_id}" if self.task_id else f"batch {self.batch_id}"
        return f"share link {self.pk} of {target}"
