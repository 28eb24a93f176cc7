"""OpenTelemetry spans of starts (producer) and runs (consumer), linked by the trace context
that each task record carries.

Named and attributed after OpenTelemetry's messaging semantic conventions: a start is a
``send <task>`` span (a batch: ``send batch``), a run is a ``process <task>`` span, child
of the span that started it. Without ``opentelemetry-api`` installed, nothing is imported
and every call here costs one comparison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - exercised by the tests' own environment
    trace = None  # type: ignore[assignment]

from task_api import __version__

SYSTEM = "django_task_api"
_NOTHING: dict[str, str] = {}


def _tracer() -> Any:
    return trace.get_tracer("task_api", __version__)


@contextlib.contextmanager
def sending(names: Sequence[str], uuids: Sequence[Any]) -> Iterator[dict[str, str]]:
    """A producer span around starting tasks (one, or a batch); yields the trace context
    to store with each record (empty without OpenTelemetry or a recording span)."""
    if trace is None:
        yield _NOTHING
        return
    single = len(names) == 1
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "start",
        "messaging.destination.name": names[0] if single else "batch",
    }
    if single:
        attributes["messaging.message.id"] = str(uuids[0])
    else:
        attributes["messaging.batch.message_count"] = len(names)
    name = f"send {attributes['messaging.destination.name']}"
    with _tracer().start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier


@contextlib.contextmanager
def processing(record: Any) -> Iterator[Any]:
    """A consumer span around one run of ``record``, child of the span that started it
    (and linked to it); yields the span, or ``None`` without OpenTelemetry."""
    if trace is None:
        yield None
        return
    parent = propagate.extract(record.trace or {})
    started_by = trace.get_current_span(parent).get_span_context()
    links = [Link(started_by)] if started_by.is_valid else []
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": record.name,
        "messaging.message.id": str(record.uuid),
        "messaging.message.delivery_attempt": record.attempt,
    }
    with _tracer().start_as_current_span(
        f"process {record.name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def ended(span: Any, status: str, error: dict[str, str] | None, reporter: Any) -> None:
    """Note how a run ended on its span: status, progress, messages, and the error."""
    if span is None:
        return
    span.set_attribute("task_api.status", status)
    if reporter.progress is not None:
        span.set_attribute("task_api.progress", reporter.progress)
    if reporter.target is not None:
        span.set_attribute("task_api.target", reporter.target)
    span.set_attribute("task_api.messages", len(reporter.entries))
    for name, length in reporter.stream_lengths().items():
        span.set_attribute(f"task_api.streams.{name}", length)
    if error is not None and status == "failed":
        span.set_attribute("error.type", error["type"])
        span.set_status(Status(StatusCode.ERROR, error["message"]))
