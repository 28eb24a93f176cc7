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
