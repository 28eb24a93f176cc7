"""How frames merge, and what a connection has to do in turn.

The merge rules of the kinds (:func:`merge_changes`, :func:`merge_chunks`,
:func:`keep_states`) join the events a connection missed into fewer, fresher frames;
the hub applies them once per process (:class:`~.hub.Window`). An :class:`Inbox`
holds, per subscription in order, what a busy connection does when its turn comes:
take the hub's newest events (:func:`pull`) or catch up after a re-check
(:func:`resync`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from task_api import protocol
from task_api.protocol import Frame

MAX_PENDING = 64  # frames of one subscription that could not be merged; beyond, resync
RESYNC = "resync"
PULL = "pull"

Merge = Callable[[list[Frame], Frame], None]


def resync(seq: int) -> dict[str, Any]:
    """A re-check's request: a snapshot if what was sent is short of ``seq`` (``-1``: gone)."""
    return {"type": RESYNC, "seq": seq}


def pull() -> dict[str, Any]:
    """A note to take the newest events of the subscription's group from the hub."""
    return {"type": PULL}


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


def _once(pending: list[Frame], frame: Frame) -> None:
    """Add a note unless the same one waits already."""
    if frame not in pending:
        pending.append(frame)
        del pending[:-MAX_PENDING]


class Inbox:
    """Pending notes per subscription of one connection, taken all at once by :meth:`take`."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[str, list[Frame]] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def put(self, key: str, frame: Frame) -> None:
        """Queue the note ``frame`` for the subscription ``key`` (never blocks)."""
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [frame]
        else:
            _once(pending, frame)

    def take(self) -> dict[str, list[Frame]]:
        """All pending frames, per subscription in order; the inbox is empty afterwards."""
        pending, self._pending = self._pending, {}
        return pending
