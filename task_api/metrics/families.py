"""The metric families that processes count, made when this module is first imported.

Their names follow celery-exporter's, with ``task_api_`` for ``celery_``: a dashboard of
``celery_task_sent_total`` and ``celery_task_runtime`` reads ``task_api_tasks_enqueued_total``
and ``task_api_task_runtime_seconds`` here. Gauges of live connections count per process and
drop a process's share when it exits (``livesum`` in multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INF = float("inf")
RUNTIME_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, INF)
QUEUE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, INF)
SEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, INF)

tasks_enqueued = Counter(
    "task_api_tasks_enqueued_total", "Tasks created and handed to the backend.", ["name"]
)
tasks_started = Counter(
    "task_api_tasks_started_total", "Task runs started by a worker (retries too).", ["name"]
)
tasks_retried = Counter(
    "task_api_tasks_retried_total",
    "Task runs that were not the first attempt (a retry, or a takeover after a lost worker).",
    ["name"],
)
tasks_finished = Counter(
    "task_api_tasks_finished_total",
    "Tasks that reached a terminal state: succeeded, failed or cancelled.",
    ["name", "state"],
)
task_runtime = Histogram(
    "task_api_task_runtime_seconds",
    "Time from a run's start to the task's end.",
    ["name"],
    buckets=RUNTIME_BUCKETS,
)
task_queue = Histogram(
    "task_api_task_queue_seconds",
    "Time a task waited for its first run: from its creation (or run_after) to its start.",
    ["name"],
    buckets=QUEUE_BUCKETS,
)
events_published = Counter("task_api_events_published_total", "Events sent to the channel layer.")
events_failed = Counter(
    "task_api_events_failed_total",
    "Events not sent: the channel layer failed or timed out, or too many waited.",
)
event_publish = Histogram(
    "task_api_event_publish_seconds",
    "Time the channel layer took to accept one event (group_send).",
    buckets=SEND_BUCKETS,
)
websocket_connections = Gauge(
    "task_api_websocket_connections", "Open WebSocket connections.", multiprocess_mode="livesum"
)
subscriptions = Gauge(
    "task_api_subscriptions",
    "Tasks, batches and streams watched by live connections.",
    multiprocess_mode="livesum",
)
