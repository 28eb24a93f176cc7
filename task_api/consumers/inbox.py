"""A connection's pending frames, merged so that a slow connection gets the latest state.

Events (and re-check requests) wait here while the connection is busy, per
subscription in order, and merge by the rule of their kind, so a connection that
falls behind sends fewer, fresher frames instead of a growing backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from task_api import protocol
from task_api.protocol import Frame

MAX_PENDING = 64  # frames of one subscription that could not be merged; beyond, resync
RESYNC = "resync"

Merge = Callable[[list[Frame], Frame], None]


def resync(seq: int) -> dict[str, Any]:
    """A re-check's request: a snapshot if what was sent is short of ``seq`` (``-1``: gone)."""
    return {"type": RESYNC, "seq": seq}


def merge_changes(pending: list[Frame], frame: Frame) -> None:
    """Add a task frame to the pending ones: consecutive updates merge into one (the later's
    fields win, messages concatenate, ``base`` keeps the ``seq`` it applies on), and a
    snapshot drops what it covers."""
    if frame["type"] == "snapshot":
        pending[:] = [f for f in pending if f["seq"] > frame["seq"]]
        pending.insert(0, frame)
        return
    last = pending[-1] if pending else None
    if (
        last is not None
        and last["type"] == frame["type"] == "update"
        and frame["seq"] == last["seq"] + 1
    ):
        pending[-1] = protocol.update_frame(
            frame["uuid"],
            frame["seq"],
            {**last["set"], **frame["set"]},
            [*last["append"], *frame["append"]],
            base=last.get("base", last["seq"] - 1),
        )
        return
    if len(pending) >= MAX_PENDING:
        pending[:] = [resync(frame["seq"])]
        return
    pending.append(frame)


def merge_chunks(pending: list[Frame], frame: Frame) -> None:
    """Add a stream frame to the pending ones: one that goes on where the last ends is
    joined to it, so a connection that fell behind sends all it missed in one frame."""
    last = pending[-1] if pending else None
    if (
        last is not None
        and last["type"] == frame["type"] == "chunks"
        and not last["done"]
        and frame["offset"] == last["next"]
    ):
        pending[-1] = protocol.chunks_frame(
            frame["uuid"],
            frame["stream"],
            last["offset"],
            [*last["chunks"], *frame["chunks"]],
            frame["done"],
        )
        return
    if len(pending) >= MAX_PENDING:
        pending[:] = [resync(frame["seq"])]
        return
    pending.append(frame)


def keep_states(pending: list[Frame], frame: Frame) -> None:
    """Add a complete state to the pending ones (the newest ``MAX_PENDING`` are kept)."""
    pending.append(frame)
    del pending[:-MAX_PENDING]


class Inbox:
    """Pending frames per subscription of one connection, taken all at once by :meth:`take`."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[str, list[Frame]] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def put(self, key: str, frame: Frame, merge: Merge) -> None:
        """Queue ``frame`` for the subscription ``key`` (never blocks)."""
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [frame]
        else:
            merge(pending, frame)

    def take(self) -> dict[str, list[Frame]]:
        """All pending frames, per subscription in order; the inbox is empty afterwards."""
        pending, self._pending = self._pending, {}
        return pending
