"""Server-Sent Events: ``GET /tasks/<uuid>/events/`` and ``GET /tasks/batches/<uuid>/events/``
(``docs/protocol.md``, section Server-Sent Events).

A request is admitted as REST admits a ``GET`` (DRF's configured authentication,
permission and throttle classes) and by the access policy, in one hop off the event
loop; its answer is then an :class:`~.sse.EventStream` on the event loop: no thread
per open response. Every refusal comes before the stream starts, as REST's JSON.
"""

from __future__ import annotations

import asyncio
import uuid as uuid_lib
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views import View
from rest_framework.exceptions import MethodNotAllowed, NotFound, ValidationError
from rest_framework.request import Request

from task_api import protocol
from task_api.api.doors import Door
from task_api.api.renderers import SafeJSONRenderer
from task_api.conf import task_api_settings
from task_api.consumers.sse import EventStream, Position, Watch
from task_api.consumers.subscriptions import BATCHES, STREAMS, TASKS, Kind
from task_api.engine import policy, publisher
from task_api.engine.policy import Actor
from task_api.models import TaskRecord, TaskStatus

LAST_EVENT_ID = "Last-Event-ID"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _Door(Door):
    """What REST runs before a ``GET`` (:class:`~task_api.api.doors.Door`, share links
    open it), the errors in JSON whatever the ``Accept`` header asks for."""

    queryset = TaskRecord.objects.none()  # for permission classes that read it
    renderer_classes = [SafeJSONRenderer]
    opens_to_share_links = True

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # EventSource asks for text/event-stream: refusals are JSON all the same.
        return SafeJSONRenderer(), SafeJSONRenderer.media_type

    def admit(self, http: HttpRequest) -> tuple[Request, HttpResponse | None]:
        """The request as DRF reads it, and the answer if it is refused."""
        self.args, self.kwargs, self.headers = (), {}, {}
        request = self.request = self.initialize_request(http)
        try:
            self.initial(request)
            if request.method != "GET":
                self.headers["Allow"] = "GET"
                raise MethodNotAllowed(request.method or "")
        except Exception as exc:
            return request, self.refusal(exc)
        return request, None

    def refusal(self, exc: Exception) -> HttpResponse:
        """REST's answer to ``exc``, rendered."""
        response = self.finalize_response(self.request, self.handle_exception(exc))
        response.render()
        answer = HttpResponse(response.rendered_content, status=response.status_code)
        for name, value in response.items():
            answer[name] = value
        return answer


def _stream(actor: Actor, position: Position, watches: list[Watch]) -> StreamingHttpResponse:
    """The ``text/event-stream`` answer that watches ``watches`` from ``position``."""
    if isinstance(get_channel_layer(task_api_settings.channel_layer_alias), InMemoryChannelLayer):
        publisher.current().bind_server_loop(asyncio.get_running_loop())
    stream = EventStream(actor, position, task_api_settings.sse_heartbeat)
    return StreamingHttpResponse(
        stream.body(watches), content_type="text/event-stream", headers=HEADERS
    )


Admitted = tuple[Actor, Position, list[Watch]] | HttpResponse


class _EventsView(View):
    """An events endpoint: every method meets REST's checks first (then 405 but for GET)."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)
        view.csrf_exempt = True  # type: ignore[attr-defined]  # REST's authentication checks it
        # Never one transaction for the whole answer (Django refuses ATOMIC_REQUESTS for an
        # async view, and a transaction must not stay open while events flow).
        view._non_atomic_requests = set(connections)  # type: ignore[attr-defined]
        return view

    async def dispatch(  # type: ignore[override]
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        return await self.get(request, *args, **kwargs)

    async def get(self, request: HttpRequest, uuid: uuid_lib.UUID) -> HttpResponseBase:
        admitted: Admitted = await database_sync_to_async(self.admit)(request, uuid)
        if isinstance(admitted, HttpResponse):
            return admitted
        if not isinstance(request, ASGIRequest):  # a WSGI worker would serve it to no end
            detail = "Server-Sent Events need an ASGI server (daphne, uvicorn)."
            return JsonResponse({"detail": detail}, status=501)
        return _stream(*admitted)

    def admit(self, request: HttpRequest, uuid: uuid_lib.UUID) -> Admitted:
        """What to watch from where, or the answer that refuses it (runs in a thread)."""
        raise NotImplementedError


class TaskEventsView(_EventsView):
    """The events of a task and of the streams ``?streams=`` names."""

    def admit(self, request: HttpRequest, uuid: uuid_lib.UUID) -> Admitted:
        return _admit_task(request, uuid)


class BatchEventsView(_EventsView):
    """The events of a batch."""

    def admit(self, request: HttpRequest, uuid: uuid_lib.UUID) -> Admitted:
        return _admit_batch(request, uuid)


def _admit_task(http: HttpRequest, uuid: uuid_lib.UUID) -> Admitted:
    door = _Door()
    request, refused = door.admit(http)
    if refused is not None:
        return refused
    try:
        actor = door.actor()
        record: TaskRecord = _visible(TASKS, str(uuid), actor)[0]
        wanted = _wanted_streams(request.query_params.getlist("streams"))
        resumed = _last_event_id(http)
        lengths = record.streams or {}
        starts = {}  # where each stream goes on: the client's position, else the query's
        for name, offset in wanted.items():
            given = resumed is not None and name in resumed.streams
            starts[name] = resumed.streams[name] if resumed and given else offset
            if starts[name] > lengths.get(name, 0):
                detail = (
                    f"{name}: {starts[name]} is beyond the stream's {lengths.get(name, 0)} chunks."
                )
                raise ValidationError({LAST_EVENT_ID if given else "streams": [detail]})
    except Exception as exc:
        return door.refusal(exc)
    position, watches = Position(streams=starts), []
    finished = record.is_finished
    # A running task's last event may be ahead of its row (protocol.AHEAD): keep it.
    newest = record.seq + (protocol.AHEAD if record.status == TaskStatus.RUNNING else 0)
    if resumed is None or resumed.seq < 0 or resumed.seq > newest:  # none, or not ours
        watches.append(Watch(TASKS, str(uuid)))
    elif not (finished and resumed.seq == record.seq):  # else the client has the end
        position.seq = resumed.seq
        watches.append(Watch(TASKS, str(uuid), last=resumed.seq, repeat=False))
    else:
        position.seq = resumed.seq
    if not watches and all(at == lengths.get(name, 0) for name, at in starts.items()):
        return HttpResponse(status=204)  # nothing follows: EventSource stops reconnecting
    for name, at in starts.items():  # each ends with its ``done`` chunks
        watches.append(Watch(STREAMS, f"{uuid}/{name}", last=at, repeat=resumed is None))
    return actor, position, watches


def _admit_batch(http: HttpRequest, uuid: uuid_lib.UUID) -> Admitted:
    door = _Door()
    _, refused = door.admit(http)
    if refused is not None:
        return refused
    try:
        actor = door.actor()
        frame = BATCHES.snapshot(_visible(BATCHES, str(uuid), actor)[1])
        resumed = _last_event_id(http)
        if resumed is not None and resumed.streams:
            raise ValidationError({LAST_EVENT_ID: ["A batch's event id is its seq."]})
    except Exception as exc:
        return door.refusal(exc)
    if resumed is None or resumed.seq < 0 or resumed.seq > frame["seq"]:  # none, or not ours
        return actor, Position(), [Watch(BATCHES, str(uuid))]
    if BATCHES.final(frame) and resumed.seq == frame["seq"]:
        return HttpResponse(status=204)  # the client has the end
    watch = Watch(BATCHES, str(uuid), last=resumed.seq, repeat=False)
    return actor, Position(resumed.seq), [watch]


def _visible(kind: Kind, uuid: str, actor: Actor) -> tuple[Any, dict[str, Any]]:
    """The task or batch ``uuid`` and its JSON, if the actor may see it; else 404."""
    loaded = kind.load(uuid, -1)
    if loaded is None or not policy.can_see(actor, loaded[0]):
        raise NotFound(f"No {kind.name} {uuid!r}.")
    return loaded


def _wanted_streams(values: list[str]) -> dict[str, int]:
    """The streams ``?streams=answer,rows:3`` names, each with its offset (default 0)."""
    wanted: dict[str, int] = {}
    items = [item for value in values for item in value.split(",")] if any(values) else []
    errors = []
    limit = min(task_api_settings.max_streams, task_api_settings.max_subscriptions - 1)
    if len(items) > limit:
        errors.append(f"At most {limit} streams.")
        items = []
    for item in items:
        name, colon, offset = item.partition(":")
        try:
            name = protocol.stream_name(name)
            if name in wanted:
                raise ValueError(f"{name!r} is named twice.")
            wanted[name] = protocol.position(offset) if colon else 0
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValidationError({"streams": errors})
    return wanted


def _last_event_id(http: HttpRequest) -> Position | None:
    """The position a reconnecting client sends in ``Last-Event-ID``, if any."""
    text = http.headers.get(LAST_EVENT_ID)
    if not text:
        return None
    try:
        return Position.parse(text)
    except ValueError as exc:
        raise ValidationError({LAST_EVENT_ID: [str(exc)]}) from None
