"""The admin of tasks and batches: live progress, filters, and actions that go through the
engine (cancel, run again, purge, revoke share links). Registered on Django's admin site
when ``django.contrib.admin`` discovers this module."""

from __future__ import annotations

from task_api.admin.batches import TaskBatchAdmin
from task_api.admin.tasks import TaskRecordAdmin

__all__ = ["TaskBatchAdmin", "TaskRecordAdmin"]
