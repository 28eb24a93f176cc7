"""Stream chunks of running tasks: stored with the task's state, then published."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from task_api import protocol
from task_api.engine import publisher
from task_api.models import TaskRecord
from task_api.reporting import Written
from task_api.store import database, streams
from task_api.store.progress import store_progress


def store(pk: int, attempt: int, fields: dict[str, Any], written: list[Written]) -> bool:
    """Store a flush's state and its chunks in one transaction, if the task is still
    running this attempt; whether it was."""
    with transaction.atomic(using=database.alias()):
        if not store_progress(pk, attempt, fields):
            return False
        streams.insert(pk, written)
    return True


def publish(uuid: Any, written: list[Written]) -> None:
    """Send stored chunks to the watchers of their streams."""
    for block in written:
        frame = protocol.chunks_frame(uuid, block.stream, block.start, block.chunks, False)
        publisher.publish(uuid, frame, group=protocol.stream_group(uuid, block.stream))


def publish_ends(record: TaskRecord) -> None:
    """Tell the watchers of a finished task's streams that nothing follows."""
    for name, length in (record.streams or {}).items():
        frame = protocol.chunks_frame(record.uuid, name, length, [], True)
        publisher.publish(record.uuid, frame, group=protocol.stream_group(record.uuid, name))
