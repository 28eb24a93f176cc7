"""The frames of the live protocol (``docs/protocol.md``) and the channel layer groups.

Workers publish these frames to the group of their task or batch; the
WebSocket consumer forwards them to the browser as they are. Group names are
``task_api.task.<uuid hex>`` and ``task_api.batch.<uuid hex>``; a message on
the layer is ``{"type": "task.event", "group": <group>, "frame": <frame>}``.
"""

from __future__ import annotations

from typing import Any

TASK_GROUP_PREFIX = "task_api.task."
BATCH_GROUP_PREFIX = "task_api.batch."


def _hex(uuid: Any) -> str:
    return uuid.hex if hasattr(uuid, "hex") else str(uuid).replace("-", "")


def task_group(uuid: Any) -> str:
    """The channel layer group of one task."""
    return TASK_GROUP_PREFIX + _hex(uuid)


def batch_group(uuid: Any) -> str:
    """The channel layer group of one batch."""
    return BATCH_GROUP_PREFIX + _hex(uuid)


def update_frame(
    uuid: Any, seq: int, changes: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """An ``update`` frame: fields to overwrite and messages to append."""
    return {"type": "update", "uuid": str(uuid), "seq": seq, "set": changes, "append": entries}


def snapshot_frame(task_json: dict[str, Any]) -> dict[str, Any]:
    """A ``snapshot`` frame carrying the whole task JSON."""
    return {
        "type": "snapshot",
        "uuid": task_json["uuid"],
        "seq": task_json["seq"],
        "task": task_json,
    }


def batch_update_frame(state: dict[str, Any]) -> dict[str, Any]:
    """A ``batch_update`` frame: the batch JSON without its task list."""
    return {"type": "batch_update", "batch": state["uuid"], "seq": state["seq"], "set": state}


def batch_snapshot_frame(batch: dict[str, Any]) -> dict[str, Any]:
    """A ``batch_snapshot`` frame: the whole batch JSON."""
    return {"type": "batch_snapshot", "batch": batch["uuid"], "seq": batch["seq"], "data": batch}
