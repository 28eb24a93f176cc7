"""The state of a batch, derived from its tasks' records by one aggregate query.

Nothing of it is stored on the batch: counts, sums and status come from the member rows
(``GROUP BY status`` over the batch's index), so they never drift from the tasks, whatever
process moved them, and the read that follows the last task's end sees the final state.
``seq`` is the sum of the members' ``seq`` plus their number: every transition and every new
member raises it, so it orders aggregates read by different processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db.models import Count, Max, Sum

from task_api.models import TaskBatch, TaskRecord, TaskStatus
from task_api.store.task_json import _iso


@dataclass(frozen=True, kw_only=True)
class Aggregate:
    """Counts and sums over a batch's tasks."""

    counts: dict[str, int]
    progress: int | None
    target: int | None
    seq: int
    finished: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        """``pending`` until a task starts, ``running`` until all are terminal, then
        ``failed`` if any failed, ``cancelled`` if any was cancelled, else ``succeeded``."""
        counts = self.counts
        unfinished = counts[TaskStatus.PENDING] + counts[TaskStatus.RUNNING]
        if unfinished == self.total:
            return TaskStatus.RUNNING if counts[TaskStatus.RUNNING] else TaskStatus.PENDING
        if unfinished:
            return TaskStatus.RUNNING
        for terminal in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            if counts[terminal]:
                return terminal
        return TaskStatus.SUCCEEDED

    @property
    def is_finished(self) -> bool:
        return self.total > 0 and self.status not in (TaskStatus.PENDING, TaskStatus.RUNNING)


def aggregate(batch_pk: int) -> Aggregate:
    """The current aggregate of batch ``batch_pk``: one query."""
    rows = list(
        TaskRecord.objects.filter(batch_id=batch_pk)
        .order_by()
        .values("status")
        .annotate(
            n=Count("id"),
            progress=Sum("progress"),
            target=Sum("target"),
            seq=Sum("seq"),
            finished=Max("finished"),
        )
    )

    def total(key: Literal["progress", "target"]) -> int | None:
        values = [row[key] for row in rows if row[key] is not None]
        return sum(values) if values else None

    return Aggregate(
        counts={**dict.fromkeys(TaskStatus.values, 0), **{row["status"]: row["n"] for row in rows}},
        progress=total("progress"),
        target=total("target"),
        seq=sum(row["seq"] + row["n"] for row in rows),
        finished=max((row["finished"] for row in rows if row["finished"]), default=None),
    )


def state_json(batch: TaskBatch, agg: Aggregate) -> dict[str, Any]:
    """The batch JSON without its task list: what an ``update`` frame sets."""
    return {
        "uuid": str(batch.uuid),
        "status": agg.status,
        "total": agg.total,
        "counts": agg.counts,
        "progress": agg.progress,
        "target": agg.target,
        "created": _iso(batch.created),
        "finished": _iso(agg.finished) if agg.is_finished else None,
        "seq": agg.seq,
    }


def batch_json(batch: TaskBatch) -> dict[str, Any]:
    """The whole batch JSON, for ``GET /tasks/batches/<uuid>/`` and snapshot frames."""
    uuids = (
        TaskRecord.objects.filter(batch_id=batch.pk).order_by("id").values_list("uuid", flat=True)
    )
    return {**state_json(batch, aggregate(batch.pk)), "tasks": [str(uuid) for uuid in uuids]}
