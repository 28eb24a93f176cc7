"""List filters of the task admin that Django has no ready one for."""

from __future__ import annotations

import uuid as uuid_lib
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest

from task_api.models import TaskRecord


class BatchFilter(admin.SimpleListFilter):
    """In a batch or not, or in one batch: ``?batch=<uuid>``, as the batch admin links."""

    title = "batch"
    parameter_name = "batch"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices = [("any", "In a batch"), ("none", "In no batch")]
        if (batch := self._uuid()) is not None:
            choices.append((str(batch), f"Batch {str(batch)[:8]}"))
        return choices

    def _uuid(self) -> uuid_lib.UUID | None:
        value = self.value()
        if value in (None, "any", "none"):
            return None
        try:
            return uuid_lib.UUID(str(value))
        except ValueError:
            return None

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[TaskRecord]
    ) -> QuerySet[TaskRecord]:
        value = self.value()
        if value == "any":
            return queryset.filter(batch__isnull=False)
        if value == "none":
            return queryset.filter(batch__isnull=True)
        if value is None:
            return queryset
        if (batch := self._uuid()) is None:
            raise IncorrectLookupParameters(f"{value!r} is not a batch's uuid.")
        return queryset.filter(batch__uuid=batch)
