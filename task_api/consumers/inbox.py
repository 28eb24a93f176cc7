"""A connection's pending task events, merged so that a slow connection gets the latest state.

Events wait here while the connection is busy, until its consumer takes them,
all pending ones at once. While they wait, consecutive ``update`` frames of one task merge into
one (fields of the later win, messages concatenate, ``base`` keeps the ``seq``
the merged frame applies on), and a ``snapshot`` replaces everything older of
its task. A connection that falls behind thus sends fewer, fresher frames
instead of a growing backlog, and the final state is never behind more than
one frame. Re-check requests (``{"type": "resync"}``) wait in the same place,
so they run in order with the events.
"""

from __future__ import annotations

from typing import Any

MAX_PENDING = 64  # frames of one task that could not be merged; beyond, resync


def merge(pending: list[dict[str, Any]], frame: dict[str, Any]) -> None:
    """Add ``frame`` to the pending frames of its task, merging where the protocol allows."""
    if "batch" in frame:
        # A batch frame carries whole aggregates; the consumer keeps only the newest.
        pending.append(frame)
        del pending[:-MAX_PENDING]
        return
    if frame["type"] == "snapshot":
        pending[:] = [f for f in pending if f["seq"] > frame["seq"]]
        pending.insert(0, frame)
        return
    last = pending[-1] if pending else None
    if (
        last is not None
        and last["type"] == "update"
        and frame["type"] == "update"
        and frame["seq"] == last["seq"] + 1
    ):
        pending[-1] = {
            "type": "update",
            "uuid": frame["uuid"],
            "seq": frame["seq"],
            "base": last.get("base", last["seq"] - 1),
            "set": {**last["set"], **frame["set"]},
            "append": [*last["append"], *frame["append"]],
        }
        return
    if len(pending) >= MAX_PENDING:
        pending[:] = [{"type": "resync", "uuid": frame["uuid"], "seq": frame["seq"]}]
        return
    pending.append(frame)


class Inbox:
    """Pending frames per task of one connection, taken all at once by :meth:`take`."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def put(self, key: str, frame: dict[str, Any]) -> None:
        """Queue ``frame`` for the task ``key`` (never blocks)."""
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [frame]
        else:
            merge(pending, frame)

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """All pending frames, per task in order; the inbox is empty afterwards."""
        pending, self._pending = self._pending, {}
        return pending
