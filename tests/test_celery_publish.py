"""Publishing a task to a real Redis broker from request threads."""

from __future__ import annotations

import json
import threading
import uuid as uuid_lib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.backends.base import DisabledBackend

from task_api.backends.celery import run_task
from tests.project.celery import app as celery_app
from tests.services import RedisServer


def _forget_connection_pools() -> None:
    # As Celery does after a fork: the pools are rebuilt from the conf on next use.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_broker_and_results(redis_server: RedisServer) -> Iterator[str]:
    """Celery sends to the tests' Redis and has a Redis result backend, built per thread."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.broker_url, conf.result_backend
    conf.task_always_eager, conf.broker_url = False, redis_server.url
    conf.result_backend = redis_server.url
    celery_app._backend_cache = None
    _forget_connection_pools()
    try:
        yield redis_server.url
    finally:
        conf.task_always_eager, conf.broker_url, conf.result_backend = saved
        celery_app._backend_cache = None
        _forget_connection_pools()


def test_a_start_from_a_new_thread_builds_no_result_backend(redis_broker_and_results: str) -> None:
    # Django serves each ASGI request in a thread of its own, where Celery would
    # build the app's result backend again for the handle apply_async returns.
    task_id = str(uuid_lib.uuid4())
    queue = f"publish-test-{task_id}"  # no worker of the session consumes it
    seen: dict[str, Any] = {}

    def request_thread() -> None:
        result = run_task.apply_async(args=(task_id,), task_id=task_id, queue=queue)
        seen["handle_backend"] = result.backend
        seen["thread_backend"] = getattr(celery_app._local, "backend", None)

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    assert isinstance(seen["handle_backend"], DisabledBackend)
    assert seen["thread_backend"] is None
    client = redis.Redis.from_url(redis_broker_and_results)
    try:
        message = json.loads(client.rpop(queue) or b"{}")
    finally:
        client.close()
    assert message["headers"]["id"] == task_id
    assert message["headers"]["task"] == "task_api.run"
