"""Stored stream chunks: written in blocks by the flusher, read from any position."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from task_api import protocol
from task_api.models import StreamBlock, TaskRecord
from task_api.reporting import Written
from task_api.store import database

MAX_READ_BYTES = 1_000_000  # a read stops after the block that passes this


def insert(task_pk: int, written: list[Written]) -> None:
    """Store the blocks of one flush (inside the transaction that updates the task). A block
    already stored is kept: a flush retried after its commit's answer was lost repeats it."""
    StreamBlock.objects.using(database.alias()).bulk_create(
        ignore_conflicts=True,
        objs=(
            StreamBlock(
                task_id=task_pk,
                stream=block.stream,
                start=block.start,
                end=block.start + len(block.chunks),
                size=block.size,
                chunks=block.chunks,
            )
            for block in written
        ),
    )


def read(task_pk: int, stream: str, since: int, max_bytes: int = MAX_READ_BYTES) -> list[Any]:
    """The chunks stored from position ``since`` on, in order; fewer when they pass
    ``max_bytes`` (the caller reads again from where they end)."""
    rows = (
        StreamBlock.objects.using(database.alias())
        .filter(task_id=task_pk, stream=stream, end__gt=since)
        .order_by("start")
        .values_list("start", "chunks", "size")
    )
    chunks: list[Any] = []
    read_bytes = 0
    for start, block, size in rows.iterator(chunk_size=20):
        if start > since + len(chunks):
            break  # never skip a gap (blocks are contiguous; this is a guard)
        chunks.extend(block[since + len(chunks) - start :])
        read_bytes += size
        if read_bytes >= max_bytes:
            break
    return chunks


class BeyondStream(ValueError):
    """A position past what a stream holds."""


def chunks_frame(record: TaskRecord, stream: str, since: int) -> dict[str, Any]:
    """The ``chunks`` frame of ``stream`` from position ``since``: what is stored, and
    whether it is all there will be; :class:`BeyondStream` past its length."""
    length = (record.streams or {}).get(stream, 0)
    if since > length:
        raise BeyondStream(f"{since} is beyond the stream's {length} chunks.")
    chunks = read(record.pk, stream, since) if since < length else []
    done = record.is_finished and since + len(chunks) >= length
    return protocol.chunks_frame(record.uuid, stream, since, chunks, done)


def sizes(task_pk: int) -> dict[str, int]:
    """The bytes stored per stream of a task (a retried task goes on from there)."""
    rows = (
        StreamBlock.objects.using(database.alias())
        .filter(task_id=task_pk)
        .order_by()
        .values("stream")
        .annotate(total=Sum("size"))
    )
    return {row["stream"]: row["total"] for row in rows}
