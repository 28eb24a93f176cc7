"""``task_api.W001``: a Redis channel layer whose sockets time out during the blocking receive."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from task_api.checks import check_channel_layer

REDIS = "channels_redis.core.RedisChannelLayer"
URL = "redis://127.0.0.1:6379/0"


def _ids(hosts: list[Any], backend: str = REDIS) -> list[str]:
    layers = {"default": {"BACKEND": backend, "CONFIG": {"hosts": hosts}}}
    with override_settings(CHANNEL_LAYERS=layers):
        return [message.id or "" for message in check_channel_layer()]


@pytest.mark.parametrize(
    "hosts",
    [
        [URL],  # redis-py 8's default socket timeout is 5 s
        [{"address": URL}],
        [{"address": URL, "socket_timeout": 5}],
        [f"{URL}?socket_timeout=3"],
        [("127.0.0.1", 6379)],
    ],
)
def test_timeout_not_above_the_blocking_receive_is_named(hosts: list[Any]) -> None:
    assert _ids(hosts) == ["task_api.W001"]


@pytest.mark.parametrize(
    "hosts",
    [
        [{"address": URL, "socket_timeout": 30}],
        [f"{URL}?socket_timeout=30"],
        [{"address": URL, "socket_timeout": None}],
    ],
)
def test_longer_timeout_passes(hosts: list[Any]) -> None:
    assert _ids(hosts) == []


def test_other_layers_pass() -> None:
    assert _ids([URL], backend="channels.layers.InMemoryChannelLayer") == []


def test_message_names_problem_and_fix() -> None:
    layers = {"default": {"BACKEND": REDIS, "CONFIG": {"hosts": [URL]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        (warning,) = check_channel_layer()
    assert "closed with code 1011" in warning.msg
    assert '"socket_timeout": 30' in (warning.hint or "")


PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"


def test_pubsub_layer_passes_with_the_default_timeout() -> None:
    """Its receive polls with a 0.1 s read timeout of its own, never the socket's."""
    assert _ids([URL], backend=PUBSUB) == []
    assert _ids([{"address": URL, "socket_timeout": 1}], backend=PUBSUB) == []


@pytest.mark.services
@pytest.mark.parametrize("backend", [REDIS, PUBSUB])
def test_the_check_warns_exactly_when_an_idle_receive_fails(
    backend: str, redis_server: Any
) -> None:
    """With redis-py's default socket timeout, a receive that waits longer than
    channels-redis's blocking pop fails on ``RedisChannelLayer`` only."""
    import asyncio

    import redis.exceptions
    from channels.layers import channel_layers

    layers = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [redis_server.url]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        warned = [message.id for message in check_channel_layer()] == ["task_api.W001"]
        layer = channel_layers.make_backend("default")

    async def idle_receive() -> dict[str, Any]:
        channel = await layer.new_channel()

        async def send_late() -> None:
            await asyncio.sleep(6)  # longer than brpop_timeout and the socket timeout
            await layer.send(channel, {"type": "late"})

        try:
            message, _ = await asyncio.gather(layer.receive(channel), send_late())
        finally:  # close the connections; a flush would empty the shared Redis
            await (layer.flush() if backend == PUBSUB else layer.close_pools())
        return dict(message)

    try:
        received = asyncio.run(idle_receive())
    except redis.exceptions.TimeoutError:
        assert warned, f"{backend}: an idle receive timed out, but W001 was not given"
    else:
        assert received == {"type": "late"}
        assert not warned, f"{backend}: W001 was given, but an idle receive worked"
