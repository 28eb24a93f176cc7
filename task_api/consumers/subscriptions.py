"""What a connection can watch, and what the connections of one event loop share.

A :class:`Kind` is what ``{"type": "subscribe", <key>: ...}`` watches (tasks,
batches and the streams of tasks; :func:`register` adds one): its group, how to
load its snapshot (for a stream: what is stored from a position) and the stored
``seq`` of many at once, and the rules of its frames.

Per event loop, snapshot reads are shared (:func:`read`), and every
``TASK_API_RESYNC_INTERVAL`` seconds one query per kind reads the stored ``seq``
of everything watched (:func:`watch`). For a subscription short of the ``seq``
stored one check earlier (an event was lost, or Redis lost the group), the process
rejoins the group and tells the connection through its inbox, so that its
snapshot takes its turn with the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.db.models import Count, Sum

from task_api import protocol
from task_api.conf import task_api_settings
from task_api.consumers import inbox
from task_api.consumers.hub import get_hub
from task_api.engine import recovery
from task_api.models import TERMINAL_STATUSES, TaskBatch, TaskRecord
from task_api.protocol import Frame, FrameError
from task_api.store import streams
from task_api.store.aggregate import batch_json
from task_api.store.task_json import task_json

logger = logging.getLogger("task_api.consumers")

Loaded = tuple[Any, dict[str, Any]] | None  # the stored object and its JSON
MANY = 500  # subjects read in one query


def _base(frame: Frame) -> int:
    return int(frame.get("base", frame["seq"] - 1))


@dataclass(eq=False)
class Kind:
    """One kind of subscription (see the module's docstring)."""

    name: str  # what the error frames call it
    key: str  # the field of subscribe frames that names one
    group: Callable[[str], str]  # of a subject: what ``subject`` reads from a frame
    # The stored object (for the policy) and its JSON, from ``since``; runs in a thread.
    load: Callable[[str, int], Loaded]
    stored_seqs: Callable[[list[str]], dict[str, int]]  # runs in a thread
    snapshot: Callable[[dict[str, Any]], Frame]
    update: str  # the type of its update frames
    merge: inbox.Merge  # how the events a connection missed merge
    final: Callable[[Frame], bool]  # whether a frame is its last
    changes: bool = True  # updates apply on the last seq sent, else they are complete
    interval: Callable[[], float] = lambda: 0.0  # least time between two updates sent
    subject: Callable[[Frame], str] | None = None  # what a frame names (default: its key)
    about: Callable[[str], dict[str, Any]] | None = None  # a subject, in error frames
    start: Callable[[Frame], int] = lambda frame: -1  # the ``seq`` a new subscription has
    base: Callable[[Frame], int] = _base  # the ``seq`` an update applies on
    resumable: bool = False  # snapshots read from the ``seq`` the subscription has
    more: Callable[[Any, Frame], bool] = lambda obj, frame: False  # a snapshot left some out
    # What ``load`` reads, for many subjects in one query (not resumable kinds); by subject,
    # the unknown left out; runs in a thread.
    load_many: Callable[[list[str]], dict[str, Loaded]] | None = None

    def __post_init__(self) -> None:
        key, name = self.key, self.name
        if self.subject is None:
            self.subject = lambda frame: protocol.subject(frame, key, name)
        if self.about is None:
            self.about = lambda subject: {key: subject}

    def subject_of(self, frame: Frame) -> str:
        """The canonical subject a ``subscribe`` or ``unsubscribe`` frame names."""
        assert self.subject is not None
        return self.subject(frame)

    def about_of(self, subject: str) -> dict[str, Any]:
        """The fields that name ``subject`` in an ``error`` frame."""
        assert self.about is not None
        return self.about(subject)


def register(kind: Kind) -> Kind:
    """Let connections subscribe to ``kind``; the first registered is the default."""
    KINDS.append(kind)
    return kind


def kind_of(frame: Frame) -> Kind:
    """The kind a ``subscribe`` or ``unsubscribe`` frame names by its key (else the default)."""
    return next((kind for kind in KINDS[1:] if kind.key in frame), KINDS[0])


@dataclass(eq=False, slots=True)
class Subscription:
    """What one connection watches of one object."""

    kind: Kind
    uuid: str
    group: str
    last: int = -1  # seq of the last frame sent
    sent_at: float = -math.inf  # loop time of the last update sent (kinds with an interval)
    timer: asyncio.TimerHandle | None = None


def _load_task(uuid: str, since: int = -1) -> Loaded:
    return next(iter(_load_tasks([uuid]).values()), None)  # whatever spelling ``uuid`` has


def _load_tasks(uuids: list[str]) -> dict[str, Loaded]:
    loaded: dict[str, Loaded] = {}
    for record in TaskRecord.objects.select_related(None).filter(uuid__in=uuids):
        record = recovery.fail_if_stale(record)
        loaded[str(record.uuid)] = record, task_json(record)
    return loaded


def _task_seqs(uuids: list[str]) -> dict[str, int]:
    rows = TaskRecord.objects.filter(uuid__in=uuids).values_list("uuid", "seq")
    return {str(uuid): seq for uuid, seq in rows}


def _task_final(frame: Frame) -> bool:
    return frame["type"] == "snapshot" and frame["task"]["status"] in TERMINAL_STATUSES


def _load_batch(uuid: str, since: int = -1) -> Loaded:
    batch = TaskBatch.objects.filter(uuid=uuid).first()
    return None if batch is None else (batch, batch_json(batch))


def _batch_seqs(uuids: list[str]) -> dict[str, int]:
    rows = TaskRecord.objects.filter(batch__uuid__in=uuids).order_by().values("batch__uuid")
    totals = rows.annotate(seq=Sum("seq"), n=Count("id"))
    return {str(row["batch__uuid"]): row["seq"] + row["n"] for row in totals}


def _batch_final(frame: Frame) -> bool:
    state = frame.get("data") or frame.get("set") or {}
    return bool(state.get("total")) and state.get("status") not in ("pending", "running")


TASKS = Kind(
    name="task",
    key="uuid",
    group=protocol.task_group,
    load=_load_task,
    load_many=_load_tasks,
    stored_seqs=_task_seqs,
    snapshot=protocol.snapshot_frame,
    update="update",
    merge=inbox.merge_changes,
    final=_task_final,
)
BATCHES = Kind(
    name="batch",
    key="batch",
    group=protocol.batch_group,
    load=_load_batch,
    stored_seqs=_batch_seqs,
    snapshot=protocol.batch_snapshot_frame,
    update="batch_update",
    merge=inbox.keep_states,
    final=_batch_final,
    changes=False,
    interval=lambda: task_api_settings.batch_interval,
)


def _stream_subject(frame: Frame) -> str:
    """``<task uuid>/<stream name>``: what a stream subscription watches."""
    uuid = protocol.subject(frame, "uuid", "task")
    try:
        name = protocol.stream_name(frame.get("stream"))
    except ValueError as exc:
        raise FrameError("invalid", str(exc), uuid=uuid, stream=None) from None
    return f"{uuid}/{name}"


def _stream_start(frame: Frame) -> int:
    try:
        offset = frame.get("offset", 0)
        if isinstance(offset, str):  # a query string's text, not a frame's number
            raise ValueError(f"{offset[:50]!r} is not a position (an integer from 0).")
        return protocol.position(offset)
    except ValueError as exc:
        uuid, stream = frame.get("uuid"), frame.get("stream")
        raise FrameError("invalid", f"offset: {exc}", uuid=uuid, stream=stream) from None


def _stream_about(subject: str) -> dict[str, Any]:
    uuid, _, name = subject.partition("/")
    return {"uuid": uuid, "stream": name}


def _stream_group(subject: str) -> str:
    return protocol.stream_group(*subject.split("/", 1))


def _load_stream(subject: str, since: int) -> Loaded:
    uuid, name = subject.split("/", 1)
    record = TaskRecord.objects.select_related(None).filter(uuid=uuid).first()
    if record is None:
        return None
    record = recovery.fail_if_stale(record)
    try:
        return record, streams.chunks_frame(record, name, since)
    except streams.BeyondStream as exc:
        return record, {"beyond": str(exc)}


def _stream_more(record: TaskRecord, frame: Frame) -> bool:
    """Whether a catch-up read stopped short of what is stored (it passed the read limit)."""
    return bool(frame["next"] < (record.streams or {}).get(frame["stream"], 0))


def _stream_seqs(subjects: list[str]) -> dict[str, int]:
    wanted: dict[str, list[str]] = {}
    for subject in subjects:
        uuid, name = subject.split("/", 1)
        wanted.setdefault(uuid, []).append(name)
    rows = TaskRecord.objects.filter(uuid__in=list(wanted)).values_list("uuid", "streams", "status")
    seqs = {}
    for task, lengths, status in rows:
        ended = status in TERMINAL_STATUSES
        for name in wanted[str(task)]:
            seqs[f"{task}/{name}"] = (lengths or {}).get(name, 0) + ended
    return seqs


STREAMS = Kind(
    name="stream",
    key="stream",
    group=_stream_group,
    load=_load_stream,
    stored_seqs=_stream_seqs,
    snapshot=lambda frame: frame,
    update="chunks",
    merge=inbox.merge_chunks,
    final=lambda frame: frame["type"] == "chunks" and bool(frame["done"]),
    subject=_stream_subject,
    about=_stream_about,
    start=_stream_start,
    base=lambda frame: int(frame["offset"]),
    resumable=True,
    more=_stream_more,
)
KINDS = [TASKS, BATCHES, STREAMS]  # the first is the default; register() adds more


class Watcher(Protocol):
    """What the re-check needs of a connection."""

    subscriptions: dict[str, Subscription]

    def behind(self, subscription: Subscription, stored: int) -> None:
        """The database holds ``stored``: catch up in turn."""


class _Shared:
    """The snapshot reads and the re-check of one event loop."""

    def __init__(self) -> None:
        self.running: dict[str, asyncio.Future[Loaded]] = {}
        self.next: dict[str, asyncio.Future[Loaded]] = {}
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()
        self.checking: asyncio.Task[None] | None = None
        self.stored: dict[str, dict[str, int]] = {}  # per kind, what the previous check read
        # Kinds read many at once: the requests of the next read, and the read running.
        self.gathering: dict[str, dict[str, asyncio.Future[Loaded]]] = {}
        self.loading: dict[str, asyncio.Future[None]] = {}
        self.reads: set[asyncio.Task[None]] = set()

    async def read(self, kind: Kind, uuid: str, since: int = -1) -> Loaded:
        """A read of the object that starts after this call, shared with every request that
        arrives while the read before it runs (for a stream: from the same position)."""
        if kind.load_many is not None and not kind.resumable:
            return await self._read_many(kind, uuid)
        key = f"{kind.group(uuid)}@{since}" if kind.resumable else kind.group(uuid)
        future = self.next.get(key)
        if future is None:
            future = self.next[key] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._read(kind, uuid, since, key, future))
        return await asyncio.shield(future)

    async def _read(
        self, kind: Kind, uuid: str, since: int, key: str, future: asyncio.Future[Loaded]
    ) -> None:
        running = self.running.get(key)
        if running is not None:
            with contextlib.suppress(Exception):
                await running  # requests arriving meanwhile join ``future``
        if self.next.get(key) is future:
            del self.next[key]
        self.running[key] = future
        try:
            future.set_result(await database_sync_to_async(kind.load)(uuid, since))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            if self.running.get(key) is future:
                del self.running[key]

    async def _read_many(self, kind: Kind, uuid: str) -> Loaded:
        """``read`` for a kind that loads many at once: the requests that arrive while its
        read before runs share the next one, a query for all of them."""
        loop = asyncio.get_running_loop()
        requests = self.gathering.get(kind.name)
        if requests is None:
            requests = self.gathering[kind.name] = {}
            task = loop.create_task(self._load_many(kind, requests))
            self.reads.add(task)  # a running task is kept by its loop only weakly
            task.add_done_callback(self.reads.discard)
        future = requests.get(uuid)
        if future is None:
            future = requests[uuid] = loop.create_future()
        return await asyncio.shield(future)

    async def _load_many(self, kind: Kind, requests: dict[str, asyncio.Future[Loaded]]) -> None:
        assert kind.load_many is not None
        running = self.loading.get(kind.name)
        if running is not None:
            with contextlib.suppress(Exception):
                await running  # requests arriving meanwhile join ``requests``
        if self.gathering.get(kind.name) is requests:
            del self.gathering[kind.name]
        done = self.loading[kind.name] = asyncio.get_running_loop().create_future()
        try:
            subjects = list(requests)
            for start in range(0, len(subjects), MANY):
                part = subjects[start : start + MANY]
                try:
                    loaded = await database_sync_to_async(kind.load_many)(part)
                except Exception as exc:
                    for subject in part:
                        requests[subject].set_exception(exc)
                else:
                    for subject in part:
                        requests[subject].set_result(loaded.get(subject))
        finally:
            done.set_result(None)
            if self.loading.get(kind.name) is done:
                del self.loading[kind.name]

    def watch(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self.checking is None or self.checking.done():
            self.checking = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.watchers:
            await asyncio.sleep(task_api_settings.resync_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("Could not re-check the watched tasks and batches")

    async def check(self) -> None:
        """Compare everything watched with the database, in one query per kind.

        The walks over the subscriptions allocate nothing per subscription: with 10,000
        connections, objects kept across the query's ``await`` would soon make the
        garbage collector walk every connection's objects (about a second of CPU).
        """
        hub = get_hub()
        if hub is not None:
            await hub.sweep()
        watched: dict[Kind, set[str]] = {}
        for watcher in self.watchers:  # no await in the loop: nothing changes meanwhile
            for sub in watcher.subscriptions.values():
                if sub.last >= 0:  # else its snapshot is still to come
                    watched.setdefault(sub.kind, set()).add(sub.uuid)
        for kind, uuids in watched.items():
            stored = await database_sync_to_async(kind.stored_seqs)(sorted(uuids))
            # Behind means short of what was stored one check ago: events stored since
            # may still be on their way, and a snapshot would only overtake them.
            previous, self.stored[kind.name] = self.stored.get(kind.name, {}), stored
            behind = [
                (watcher, sub, stored.get(sub.uuid, -1))
                for watcher in self.watchers
                for sub in watcher.subscriptions.values()
                if sub.kind is kind
                and sub.last >= 0
                and sub.uuid in uuids
                and (sub.uuid not in stored or sub.last < previous.get(sub.uuid, -1))
            ]
            if hub is not None:
                for group in sorted({sub.group for _, sub, _ in behind}):
                    with contextlib.suppress(Exception):
                        await hub.rejoin(group)
            for watcher, sub, seq in behind:
                watcher.behind(sub, seq)


_by_loop = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared]()


def _shared() -> _Shared:
    loop = asyncio.get_running_loop()
    if loop not in _by_loop:
        _by_loop[loop] = _Shared()
    return _by_loop[loop]


_snapshots: dict[int, tuple[dict[str, Any], Frame]] = {}


def snapshot_of(kind: Kind, state: dict[str, Any]) -> Frame:
    """The snapshot frame of a state that :func:`read` loaded: the same frame for every
    connection that shared the read, so that it is encoded once (:func:`protocol.encode`)."""
    cached = _snapshots.get(id(state))
    if cached is not None and cached[0] is state:
        return cached[1]
    frame = kind.snapshot(state)
    if len(_snapshots) >= 64:
        _snapshots.clear()
    _snapshots[id(state)] = (state, frame)
    return frame


async def read(kind: Kind, uuid: str, since: int = -1) -> Loaded:
    """The object as stored now (read after this call), with its JSON; ``None`` if unknown.
    A resumable kind (streams) reads what is stored from ``since``."""
    return await _shared().read(kind, uuid, since)


def watch(watcher: Watcher) -> None:
    """Include a connection in its event loop's re-check."""
    _shared().watch(watcher)
