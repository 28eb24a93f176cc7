"""The scenarios, in the order they run."""

from __future__ import annotations

from . import (
    batch,
    burst,
    fanout,
    first_event,
    nodes,
    peer,
    polling,
    postgres_only,
    progress_cost,
    push_latency,
    streams,
    throughput,
)
from .base import Mode, Scenario

SCENARIOS: tuple[Scenario, ...] = (
    push_latency.SCENARIO,
    progress_cost.SCENARIO,
    burst.SCENARIO,
    throughput.SCENARIO,
    polling.SCENARIO,
    fanout.SCENARIO,
    first_event.SCENARIO,
    batch.SCENARIO,
    nodes.SCENARIO,
    peer.SCENARIO,
    streams.SCENARIO,
    postgres_only.SCENARIO,
)

__all__ = ["SCENARIOS", "Mode", "Scenario"]
