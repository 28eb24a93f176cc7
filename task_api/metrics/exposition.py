"""The page Prometheus scrapes: what the processes counted, and the task table's gauges.

In multiprocess mode the counts of every process of the host are read from
``PROMETHEUS_MULTIPROC_DIR``; otherwise this process's default registry is served (with
whatever else the project registered there). The pending and running tasks are counted
in the database at each scrape, so they hold for every worker whatever the mode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from task_api.metrics import multiprocess_dir
from task_api.models import TaskRecord, TaskStatus
from task_api.registry import get_tasks

logger = logging.getLogger("task_api.metrics")

GAUGES = {
    TaskStatus.PENDING: (
        "task_api_tasks_pending",
        "Tasks waiting for a worker (deferred ones too).",
    ),
    TaskStatus.RUNNING: ("task_api_tasks_running", "Tasks running now."),
}


class TaskTableCollector(Collector):
    """Unfinished tasks by status and name, from one query per scrape (every registered
    task has its series, 0 when none is unfinished)."""

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, text, labels=["name"]) for name, text in GAUGES.values()]

    def collect(self) -> Iterator[Metric]:
        unfinished = TaskRecord.objects.filter(status__in=list(GAUGES)).order_by()
        try:
            rows = list(unfinished.values_list("status", "name").annotate(count=Count("id")))
        except DatabaseError as exc:
            logger.warning("Could not count the unfinished tasks for the metrics: %s", exc)
            return
        counts = {status: dict.fromkeys(get_tasks(), 0) for status in GAUGES}
        for status, name, count in rows:
            counts[status][name] = count
        for status, (metric, text) in GAUGES.items():
            family = GaugeMetricFamily(metric, text, labels=["name"])
            for name, count in sorted(counts[status].items()):
                family.add_metric([name], count)
            yield family


class _Default(Collector):
    """This process's default registry, inside another one."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry() -> CollectorRegistry:
    """What one scrape reads."""
    scraped = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(scraped)  # type: ignore[no-untyped-call]
    else:
        scraped.register(_Default())
    scraped.register(TaskTableCollector())
    return scraped


def render(accept: str | None) -> tuple[bytes, str]:
    """The page and its content type, in the format ``accept`` asks for (text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry()), content_type
