"""The settings of the app, each described once: ``TASK_API_<NAME>``, else ``<name>`` in
the ``OPTIONS`` of the ``TaskAPIBackend`` entry of ``TASKS``.

A value is read once and kept until Django's ``setting_changed`` signal (which
``override_settings`` sends) says a setting changed: a setting left at its default is
otherwise an ``AttributeError`` raised and caught in ``LazySettings`` at every read,
and the hot paths (a subscribe, a frame) read several."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from django.conf import settings
from django.core.signals import setting_changed

T = TypeVar("T")

BACKEND_PATH = "task_api.backends.django_tasks.TaskAPIBackend"
_UNSET: Any = object()


def backend_options() -> dict[str, Any]:
    """The ``OPTIONS`` of the first ``TASKS`` entry whose backend is ``TaskAPIBackend``."""
    for entry in (getattr(settings, "TASKS", None) or {}).values():
        if entry.get("BACKEND") == BACKEND_PATH:
            options: dict[str, Any] = entry.get("OPTIONS") or {}
            return options
    return {}


def optional(kind: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """``kind``, or ``None`` for ``None``."""

    def convert(value: Any) -> T | None:
        return None if value is None else kind(value)

    convert.__name__ = f"{getattr(kind, '__name__', kind)} | None"  # the type, as documented
    return convert


class Setting(Generic[T]):
    """One setting: its names, type, default and a one-line description."""

    def __init__(
        self, kind: Callable[[Any], T], default: T, doc: str, *, names: tuple[str, ...] = ()
    ) -> None:
        #: ``kind.__name__`` names the type; ``names`` are read in turn, the first given wins.
        self.kind, self.default, self.doc, self.names = kind, default, doc, names

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute
        self.names = self.names or (f"TASK_API_{attribute.upper()}",)
        self.name = self.names[0]
        #: The same names in ``OPTIONS``: lower case, without ``TASK_API_``.
        self.options = tuple(name.removeprefix("TASK_API_").lower() for name in self.names)

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object, owner: type) -> Setting[T] | T:
        return self if instance is None else self.read()

    def read(self) -> T:
        """The value in force now."""
        try:
            value: T = _values[self]
        except KeyError:
            value = _values[self] = self.look_up()
        return value

    def look_up(self) -> T:
        """The value in the settings now, read afresh."""
        for name in self.names:
            value = getattr(settings, name, _UNSET)
            if value is not _UNSET:
                return self.kind(value)
        options = backend_options()
        for key in self.options:
            if key in options:
                return self.kind(options[key])
        return self.default


_values: dict[Setting[Any], Any] = {}


def reload(**kwargs: Any) -> None:
    """Forget the values read so far: the next reads see the settings as they are now
    (Django's ``setting_changed`` signal calls it; call it after changing settings
    without ``override_settings``)."""
    _values.clear()


setting_changed.connect(reload, dispatch_uid="task_api.conf")


class _Joined(Setting[list[Any]]):
    """A list setting whose names all add to it (an older name kept readable)."""

    def look_up(self) -> list[Any]:
        given = [getattr(settings, name, None) or [] for name in self.names]
        if not any(given):
            options = backend_options()
            given = [options.get(key) or [] for key in self.options]
        return [item for value in given for item in value]


class TaskAPISettings:
    """The ``TASK_API_*`` settings with their defaults."""

    background_tasks = _Joined(
        list,
        [],
        "task classes or their dotted paths (`TASK_API_BACKGROUND_CLASSES` is read too)",
        names=("TASK_API_BACKGROUND_TASKS", "TASK_API_BACKGROUND_CLASSES"),
    )
    backend = Setting(
        str,
        "task_api.backends.celery.CeleryBackend",
        'or `"task_api.backends.inprocess.InProcessBackend"`',
    )
    authentication_classes = Setting(
        optional(list), None, "authentication classes (or dotted paths) of the API"
    )
    permission_classes = Setting(
        optional(list),
        None,
        "permission classes (or dotted paths) of the API "
        "(`TASK_API_PERMISSION_CLASSES` is read too)",
        names=("TASK_API_PERMISSIONS_CLASSES", "TASK_API_PERMISSION_CLASSES"),
    )
    access_policy = Setting(
        str,
        "task_api.engine.policy.OwnerOrStaff",
        "who may see, watch and cancel a task or batch: an `AccessPolicy` subclass "
        "(owner and staff by default)",
    )
    page_size = Setting(int, 50, "tasks per page (`?page_size=` up to 200)")
    progress_interval = Setting(float, 0.1, "seconds between two pushes of one task's progress")
    cancel_check_interval = Setting(
        float, 0.5, "seconds between two reads of the running tasks' cancel flags"
    )
    resync_interval = Setting(
        float, 3.0, "seconds between two re-checks of a connection's watched tasks"
    )
    channel_layer_alias = Setting(
        str, "default", "the channel layer of task events", names=("TASK_API_CHANNEL_LAYER",)
    )
    time_limit = Setting(optional(float), None, "default hard time limit of a task (seconds)")
    soft_time_limit = Setting(optional(float), None, "default soft time limit of a task (seconds)")
    heartbeat_interval = Setting(float, 5.0, "seconds between heartbeats of a running task")
    stale_after = Setting(
        float, 60.0, "a running task without a heartbeat this long has lost its worker"
    )
    db_retry_for = Setting(
        float,
        300.0,
        "seconds a worker retries a task's start and final write while the database is away",
    )
    idempotency_window = Setting(float, 600.0, "seconds an `Idempotency-Key` is remembered")
    retention = Setting(float, 604800.0, "seconds finished tasks are kept by `purge_tasks`")
    max_request_bytes = Setting(int, 1_000_000, "largest `POST /tasks/` body")
    max_string_length = Setting(int, 100_000, "longest string input")
    max_list_length = Setting(int, 10_000, "most items in a list or dict input")
    max_depth = Setting(int, 32, "deepest nesting of list and dict inputs")
    max_messages = Setting(
        int, 1000, "messages kept per task: the first ones, then a warning; later ones are dropped"
    )
    max_running_per_user = Setting[int | None](
        optional(int), 100, "unfinished tasks per user (`None`: no limit)"
    )
    max_chunk_bytes = Setting(int, 65_536, "largest stream chunk (its UTF-8 or JSON bytes)")
    max_stream_bytes = Setting(int, 16_000_000, "bytes one stream of a task may hold")
    max_streams = Setting(int, 16, "streams one task may write")
    share_expiry = Setting(float, 86400.0, "seconds a share link lasts unless asked otherwise")
    share_max_expiry = Setting(float, 2592000.0, "the longest a share link may last (seconds)")
    max_subscriptions = Setting(int, 100, "tasks, batches and streams one WebSocket may watch")
    max_batch_size = Setting(int, 1000, "tasks one batch may hold")
    batch_interval = Setting(
        float, 0.25, "seconds between two aggregate updates of one batch from one process"
    )
    max_frame_bytes = Setting(int, 4096, "largest WebSocket frame from a client")
    sse_heartbeat = Setting(
        float, 15.0, "seconds without an event before an event stream sends `: ping` (0: never)"
    )
    inprocess_workers = Setting(int, 4, "threads of the in-process backend")
    celery_queue = Setting(optional(str), None, "Celery queue of the tasks")
    metrics = Setting(
        bool, False, "collect Prometheus metrics in every process (needs the `metrics` extra)"
    )
    metrics_token = Setting(
        optional(str),
        None,
        "bearer token that opens `/tasks/metrics/` and the details of `/tasks/health/`, "
        "besides a staff user's session",
    )
    health_timeout = Setting(
        float,
        1.0,
        "seconds each readiness check of `task_api_health` and `/tasks/health/` takes at most",
    )

    @classmethod
    def all(cls) -> list[Setting[Any]]:
        """Every setting, in the order of the reference."""
        return [value for value in vars(cls).values() if isinstance(value, Setting)]


task_api_settings = TaskAPISettings()
