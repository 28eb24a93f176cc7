"""Task JSON: one shape for REST responses and WebSocket frames."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from task_api.models import TaskRecord


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def task_json(record: TaskRecord) -> dict[str, Any]:
    """The task JSON of ``record`` (see ``docs/protocol.md``)."""
    log = record.messages or []
    return {
        "uuid": str(record.uuid),
        "task": record.name,
        "status": record.status,
        "progress": record.progress,
        "target": record.target,
        "outputs": record.outputs or {},
        "messages": [entry["value"] for entry in log],
        "message_log": log,
        "streams": record.streams or {},
        "error": record.error,
        "created": _iso(record.created),
        "started": _iso(record.started),
        "finished": _iso(record.finished),
        "seq": record.seq,
        "attempt": record.attempt,
        "cancel_requested": record.cancel_requested,
    }
