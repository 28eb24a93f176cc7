"""A worker whose channel layer is unreachable still runs tasks and stores their state."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers

from task_api import events
from task_api.models import TaskRecord, TaskStatus
from task_api.runner import execute


@pytest.fixture
def silent_redis(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A channel layer whose Redis accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    port = listener.getsockname()[1]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    channel_layers.backends.pop("default", None)
    monkeypatch.setattr(events, "publisher", events.Publisher())
    monkeypatch.setattr(events, "MAX_QUEUED", 5)
    yield
    listener.close()
    channel_layers.backends.pop("default", None)


@pytest.mark.django_db(transaction=True)
def test_task_state_is_stored_when_events_cannot_be_sent(silent_redis: None) -> None:
    record = TaskRecord.objects.create(name="burst", inputs={"count": 50_000, "messages": 30})
    outcome = execute(record.uuid)  # pytest-timeout fails it if the worker hangs
    record.refresh_from_db()
    assert outcome.status == TaskStatus.SUCCEEDED
    assert record.status == TaskStatus.SUCCEEDED
    assert record.progress == 50_000
    assert len(record.messages) == 30
    assert record.outputs == {"count": 50_000}
    queue = events.publisher._queue
    assert queue is not None
    assert queue.qsize() <= 5
