"""A worker whose channel layer is unreachable still runs tasks and stores their state."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers

from task_api import protocol
from task_api.engine import publisher, runtime
from task_api.engine.runner import execute
from task_api.models import TaskRecord, TaskStatus
from tests.project.settings import redis_channel_layer


@pytest.fixture
def silent_redis(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A channel layer whose Redis accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    port = listener.getsockname()[1]
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(f"redis://127.0.0.1:{port}/0")}
    channel_layers.backends.pop("default", None)
    monkeypatch.setitem(runtime.RUNTIME.parts, publisher.Publisher, publisher.Publisher())
    monkeypatch.setattr(publisher, "MAX_QUEUED", 5)
    yield
    publisher.current().close(timeout=0)
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
    queue = publisher.current()._queue
    assert queue is not None
    assert queue.qsize() <= 5


@pytest.fixture
def redis_layer(
    settings: Any, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The project's Redis channel layer on the private Redis, and a fresh publisher."""
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_server.url)}
    channel_layers.backends.pop("default", None)
    monkeypatch.setitem(runtime.RUNTIME.parts, publisher.Publisher, publisher.Publisher())
    yield
    publisher.current().close()
    channel_layers.backends.pop("default", None)


def test_publishing_survives_other_code_closing_the_shared_layers_pools(
    redis_layer: None,
) -> None:
    """celery-progress calls ``close_pools()`` on the process's layer object after
    each push; tasks of both libraries run in one worker while users migrate."""
    from django.conf import settings

    if settings.CHANNEL_LAYERS["default"]["BACKEND"] != "channels_redis.core.RedisChannelLayer":
        pytest.skip("celery-progress calls close_pools(), which only RedisChannelLayer has")
    import asyncio
    import uuid as uuid_lib

    from channels.layers import get_channel_layer

    task = uuid_lib.uuid4()

    async def scenario() -> list[int]:
        receiver = channel_layers.make_backend("default")
        channel = await receiver.new_channel()
        await receiver.group_add(protocol.task_group(task), channel)
        seen = []
        for seq in (1, 2, 3):
            frame = protocol.update_frame(task, seq, {"progress": seq}, [])
            assert await asyncio.to_thread(publisher.publish, task, frame, wait=True)
            message = await asyncio.wait_for(receiver.receive(channel), 5)
            seen.append(message["frame"]["seq"])
            await get_channel_layer().close_pools()  # what the other library does
        await receiver.close_pools()
        return seen

    assert asyncio.run(scenario()) == [1, 2, 3]


EXITING_PUBLISHER = """
import sys, django
django.setup()
from task_api import protocol
from task_api.engine import publisher
for seq in range(1, 51):
    publisher.publish(sys.argv[1], protocol.update_frame(sys.argv[1], seq, {"progress": seq}, []))
"""


def test_events_queued_when_the_process_exits_are_sent(
    redis_layer: None, redis_server: Any
) -> None:
    """A script or an exiting worker process sends its last events before it goes."""
    import asyncio
    import os
    import subprocess
    import sys
    import uuid as uuid_lib

    task = uuid_lib.uuid4()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "REDIS_URL": redis_server.url,
    }

    async def scenario() -> list[int]:
        receiver = channel_layers.make_backend("default")
        channel = await receiver.new_channel()
        await receiver.group_add(protocol.task_group(task), channel)
        exiting = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", EXITING_PUBLISHER, str(task)], env=env
        )
        assert exiting.returncode == 0
        seen = []
        while len(seen) < 50:
            try:
                message = await asyncio.wait_for(receiver.receive(channel), 2)
            except TimeoutError:
                break
            seen.append(message["frame"]["seq"])
        # The pub/sub layer has no close_pools(); its flush() closes its connections.
        await getattr(receiver, "close_pools", receiver.flush)()
        return seen

    assert asyncio.run(scenario()) == list(range(1, 51))


def test_a_closed_publisher_leaves_nothing_for_the_garbage_collector(
    redis_layer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """channels-redis hooks the close of every loop that used it; a loop left to the
    garbage collector would run that hook inside whatever loop is running then."""
    import asyncio
    import gc
    import sys
    import uuid as uuid_lib

    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda hook: unraisable.append(repr(hook)))
    own = publisher.Publisher()
    task = uuid_lib.uuid4()
    assert own.publish(task, protocol.update_frame(task, 1, {"progress": 1}, []), wait=True)
    own.close()
    del own

    async def collect() -> None:
        gc.collect()

    asyncio.run(collect())
    assert unraisable == []


@pytest.fixture
def memory_layer(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[publisher.Publisher]:
    """The in-memory channel layer, and a fresh publisher."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.pop("default", None)
    own = publisher.Publisher()
    monkeypatch.setitem(runtime.RUNTIME.parts, publisher.Publisher, own)
    yield own
    own.close(timeout=0)
    channel_layers.backends.pop("default", None)


def test_frames_published_from_threads_reach_the_server_loop_in_order(
    memory_layer: publisher.Publisher,
) -> None:
    """With the in-memory layer, frames go out on the loop of the consumers that bound it."""
    import asyncio
    import uuid as uuid_lib

    from channels.layers import get_channel_layer

    task = uuid_lib.uuid4()

    async def scenario() -> list[int]:
        memory_layer.bind_server_loop(asyncio.get_running_loop())  # as a consumer's connect()
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(protocol.task_group(task), channel)

        def publish_all() -> list[bool]:
            frames = [protocol.update_frame(task, seq, {"progress": seq}, []) for seq in (1, 2, 3)]
            return [memory_layer.publish(task, frame) for frame in frames]

        assert await asyncio.to_thread(publish_all) == [True, True, True]
        seen = []
        for _ in range(3):
            message = await asyncio.wait_for(layer.receive(channel), 5)
            seen.append(message["frame"]["seq"])
        return seen

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_publishing_while_the_server_loop_closes_leaves_no_task_on_it(
    memory_layer: publisher.Publisher,
) -> None:
    """A worker thread publishes a task's last event while the ASGI server's loop shuts
    down, after its tasks were cancelled: no sender task may be left pending on it, to
    be destroyed with the loop ("Task was destroyed but it is pending")."""
    import asyncio
    import gc
    import threading
    import uuid as uuid_lib

    task = uuid_lib.uuid4()
    frame = protocol.update_frame(task, 1, {"progress": 1}, [])
    closing = threading.Event()
    sent: list[bool] = []
    errors: list[str] = []

    def last_event() -> None:
        closing.wait(5)
        sent.append(memory_layer.publish(task, frame))

    async def connect() -> None:
        memory_layer.bind_server_loop(asyncio.get_running_loop())
        asyncio.get_running_loop().run_in_executor(None, last_event)

    async def cancel_all() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: errors.append(context["message"]))
    try:
        loop.run_until_complete(connect())
        # What asyncio.run() and pytest-asyncio do at the end: cancel every task, then
        # run the loop until the default executor's threads are done.
        loop.run_until_complete(cancel_all())
        closing.set()
        loop.run_until_complete(loop.shutdown_default_executor())
        left = asyncio.all_tasks(loop)
    finally:
        loop.close()
    gc.collect()
    assert sent == [False]  # nobody listens on a closing loop
    assert not left
    assert errors == []
