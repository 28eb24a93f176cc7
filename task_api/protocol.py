"""The live protocol (``docs/protocol.md``): every frame, the channel layer groups, and
the reading of client frames.

Each frame is declared once, as a TypedDict that one function builds (mypy checks
it) and that ``static_src/types/protocol.d.ts`` is generated from.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired at runtime.
import contextlib
import json
import re
import uuid as uuid_lib
from collections.abc import Collection
from typing import Any, Literal, NotRequired, TypedDict, cast

Frame = dict[str, Any]  # a frame as the layer and the socket carry it

TASK_GROUP_PREFIX = "task_api.task."
BATCH_GROUP_PREFIX = "task_api.batch."
STREAM_GROUP_PREFIX = "task_api.stream."
STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
STREAM_NAME_RULE = "Stream names are 1 to 40 letters, digits, '_' or '-'."
MAX_REF_LENGTH = 64
INVALID_DETAIL = "The start frame has errors; see errors."
#: How many ``seq`` a running task's events may be ahead of its stored row: a worker
#: publishes a progress event while its write is under way, never a second one before
#: that write got through. Whoever else moves a running task skips past them.
AHEAD = 1


def _hex(uuid: Any) -> str:
    return uuid.hex if hasattr(uuid, "hex") else str(uuid).replace("-", "")


def task_group(uuid: Any) -> str:
    """The channel layer group of one task."""
    return TASK_GROUP_PREFIX + _hex(uuid)


def batch_group(uuid: Any) -> str:
    """The channel layer group of one batch."""
    return BATCH_GROUP_PREFIX + _hex(uuid)


def stream_group(uuid: Any, name: str) -> str:
    """The channel layer group of one stream of one task."""
    return f"{STREAM_GROUP_PREFIX}{_hex(uuid)}.{name}"


def event_message(group: str, frame: Frame) -> dict[str, Any]:
    """The channel layer message that carries ``frame`` to the members of ``group``."""
    return {"type": "task.event", "group": group, "frame": frame}


class SubscribeFrame(TypedDict):
    """Watch task `uuid` or batch `batch`: answered by its snapshot; sent again, by a fresh one.
    With `stream`, watch that stream of task `uuid` from position `offset` (default 0):
    answered by a `chunks` frame of what is stored from there, then the chunks as written.
    `share` presents a share link's token, which the connection then holds."""

    type: Literal["subscribe"]
    uuid: NotRequired[str]
    batch: NotRequired[str]
    stream: NotRequired[str]
    offset: NotRequired[int]
    share: NotRequired[str]


class UnsubscribeFrame(TypedDict):
    """Stop watching task `uuid`, batch `batch`, or stream `stream` of task `uuid`."""

    type: Literal["unsubscribe"]
    uuid: NotRequired[str]
    batch: NotRequired[str]
    stream: NotRequired[str]


class StartFrame(TypedDict):
    """Start a task and watch it, under the rules of `POST /tasks/`: answered by `started`
    or by an `error` with the same `ref` (any string of at most 64 characters)."""

    type: Literal["start"]
    ref: str
    task: str
    inputs: dict[str, Any]
    idempotency_key: NotRequired[str]


class PingFrame(TypedDict):
    """Answered by `pong`."""

    type: Literal["ping"]


class SnapshotFrame(TypedDict):
    """The whole task: on subscribe, after a gap, and in its terminal state."""

    type: Literal["snapshot"]
    uuid: str
    seq: int
    task: dict[str, Any]


class UpdateFrame(TypedDict):
    """A change: overwrite the fields in `set`, append `append` to `message_log` (and the
    values to `messages`). It applies on `seq` `base` when present (several changes merged
    for a connection that fell behind), else on `seq` - 1."""

    type: Literal["update"]
    uuid: str
    seq: int
    base: NotRequired[int]
    set: dict[str, Any]
    append: list[dict[str, Any]]


class BatchSnapshotFrame(TypedDict):
    """The whole batch: on subscribe, and when the server's re-check finds it ahead."""

    type: Literal["batch_snapshot"]
    batch: str
    seq: int
    data: dict[str, Any]


class BatchUpdateFrame(TypedDict):
    """The whole aggregate of a batch again (its JSON without `tasks`)."""

    type: Literal["batch_update"]
    batch: str
    seq: int
    set: dict[str, Any]


class ChunksFrame(TypedDict):
    """Chunks of stream `stream` of task `uuid`: `chunks[0]` is at position `offset`, and
    `next` is the position after the last one. `done` is true once the task has ended and
    nothing follows. `seq` is `next`, plus one when `done`. A connection that fell behind
    gets one frame with all it missed."""

    type: Literal["chunks"]
    uuid: str
    stream: str
    offset: int
    next: int
    seq: int
    done: bool
    chunks: list[Any]


class StartedFrame(TypedDict):
    """Answer to `start`: the task, now watched; it counts as its snapshot. `created` is
    false when the idempotency key named an earlier task."""

    type: Literal["started"]
    ref: str
    created: bool
    uuid: str
    seq: int
    task: dict[str, Any]


class ErrorFrame(TypedDict):
    """A refused frame, naming what it named: `uuid` (a task; null for a frame that could
    not be read), `batch`, `uuid` and `stream` (a stream), or `ref` (a start, with the
    `status` that `POST /tasks/` would answer and, for a 400, the field `errors`). The
    connection stays open."""

    type: Literal["error"]
    uuid: NotRequired[str | None]
    batch: NotRequired[str | None]
    stream: NotRequired[str | None]
    ref: NotRequired[str | None]
    code: str
    status: NotRequired[int]
    detail: str
    errors: NotRequired[Any]


class PongFrame(TypedDict):
    """Answer to `ping`."""

    type: Literal["pong"]


CLIENT_FRAMES = (SubscribeFrame, UnsubscribeFrame, StartFrame, PingFrame)
SERVER_FRAMES = (
    SnapshotFrame,
    UpdateFrame,
    BatchSnapshotFrame,
    BatchUpdateFrame,
    ChunksFrame,
    StartedFrame,
    ErrorFrame,
    PongFrame,
)


def update_frame(
    uuid: Any,
    seq: int,
    changes: dict[str, Any],
    entries: list[dict[str, Any]],
    base: int | None = None,
) -> Frame:
    """An ``update`` frame: fields to overwrite and messages to append (on ``base``, if given)."""
    frame = UpdateFrame(type="update", uuid=str(uuid), seq=seq, set=changes, append=entries)
    if base is not None:
        frame["base"] = base
    return cast(Frame, frame)


def snapshot_frame(task_json: dict[str, Any]) -> Frame:
    """A ``snapshot`` frame carrying the whole task JSON."""
    uuid, seq = task_json["uuid"], task_json["seq"]
    return cast(Frame, SnapshotFrame(type="snapshot", uuid=uuid, seq=seq, task=task_json))


def batch_update_frame(state: dict[str, Any]) -> Frame:
    """A ``batch_update`` frame: the batch JSON without its task list."""
    frame = BatchUpdateFrame(type="batch_update", batch=state["uuid"], seq=state["seq"], set=state)
    return cast(Frame, frame)


def batch_snapshot_frame(batch: dict[str, Any]) -> Frame:
    """A ``batch_snapshot`` frame: the whole batch JSON."""
    uuid, seq = batch["uuid"], batch["seq"]
    return cast(Frame, BatchSnapshotFrame(type="batch_snapshot", batch=uuid, seq=seq, data=batch))


def chunks_frame(uuid: Any, stream: str, offset: int, chunks: list[Any], done: bool) -> Frame:
    """A ``chunks`` frame: ``chunks`` of a stream from position ``offset``."""
    end = offset + len(chunks)
    frame = ChunksFrame(
        type="chunks",
        uuid=str(uuid),
        stream=stream,
        offset=offset,
        next=end,
        seq=end + done,
        done=done,
        chunks=chunks,
    )
    return cast(Frame, frame)


def started_frame(ref: str, created: bool, task: dict[str, Any]) -> Frame:
    """A ``started`` frame answering the ``start`` frame ``ref``."""
    uuid, seq = task["uuid"], task["seq"]
    frame = StartedFrame(type="started", ref=ref, created=created, uuid=uuid, seq=seq, task=task)
    return cast(Frame, frame)


def error_frame(
    code: str, detail: str, *, status: int | None = None, errors: Any = None, **about: str | None
) -> Frame:
    """An ``error`` frame about what ``about`` names (``uuid=``, ``batch=`` or ``ref=``)."""
    frame: Frame = {"type": "error", **about, "code": code}
    if status is not None:
        frame["status"] = status
    frame["detail"] = detail
    if errors is not None:
        frame["errors"] = errors
    return frame


def pong_frame() -> Frame:
    """The answer to ``ping``."""
    return cast(Frame, PongFrame(type="pong"))


_encoded: dict[int, tuple[Frame, str]] = {}


def encode(frame: Frame) -> str:
    """The JSON text of a frame; the same event goes to every watcher, so it is encoded once."""
    cached = _encoded.get(id(frame))
    if cached is not None and cached[0] is frame:
        return cached[1]
    text = json.dumps(frame, separators=(",", ":"))
    if len(_encoded) >= 64:
        _encoded.clear()
    _encoded[id(frame)] = (frame, text)
    return text


class FrameError(Exception):
    """A client frame that is refused; :attr:`frame` is the ``error`` frame answering it."""

    def __init__(self, code: str, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.frame = error_frame(code, detail, **fields)


def read(text: str | None, max_bytes: int, types: Collection[str]) -> Frame:
    """The client frame in ``text``: a JSON object whose ``type`` is one of ``types``."""
    if text is None:
        raise FrameError("invalid", "Frames must be JSON text.", uuid=None)
    if len(text.encode()) > max_bytes:
        raise FrameError("too_large", f"Frames may be at most {max_bytes} bytes.", uuid=None)
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("invalid", "The frame is not valid JSON.", uuid=None) from None
    kind = frame.get("type") if isinstance(frame, dict) else None
    if kind not in types:
        *first, last = sorted(types)
        known = f"{', '.join(first)} or {last}" if first else last
        raise FrameError("invalid", f"Unknown frame type {kind!r}; use {known}.", uuid=None)
    return cast(Frame, frame)


def subject(frame: Frame, key: str, noun: str) -> str:
    """The canonical uuid that a ``subscribe`` or ``unsubscribe`` frame names under ``key``."""
    value = frame.get(key)
    with contextlib.suppress(ValueError):
        if isinstance(value, str) and len(value) <= 64:
            return str(uuid_lib.UUID(value))
    raise FrameError("invalid", f"{value!r} is not a {noun} uuid.", **{key: None})


def stream_name(value: Any) -> str:
    """``value`` if it is a valid stream name; else a :class:`ValueError` saying the rule."""
    if isinstance(value, str) and STREAM_NAME.fullmatch(value):
        return value
    raise ValueError(f"{str(value)[:50]!r} is not a stream name. {STREAM_NAME_RULE}")


def position(value: Any) -> int:
    """``value`` as a stream position (an integer from 0); else a :class:`ValueError`."""
    if isinstance(value, str) and value.isdecimal() and len(value) <= 12:
        value = int(value)
    if type(value) is not int or not 0 <= value < 2**31:
        raise ValueError(f"{str(value)[:50]!r} is not a position (an integer from 0).")
    return value


def start_ref(frame: Frame) -> str:
    """The ``ref`` of a ``start`` frame, which its answer echoes."""
    ref = frame.get("ref")
    if not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH:
        message = f"A string of at most {MAX_REF_LENGTH} characters is required."
        raise FrameError("invalid", INVALID_DETAIL, ref=None, status=400, errors={"ref": [message]})
    return ref
