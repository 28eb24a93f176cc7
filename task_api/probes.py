"""Hooks on the paths that the lifecycle signals do not reach: the channel layer's sends,
live connections and their subscriptions.

:data:`probe` does nothing until :mod:`task_api.metrics` installs one that counts, so a
hook costs one method call. Callers look it up at each call (``probes.probe.sent(...)``)
so that an installed probe applies at once.
"""

from __future__ import annotations


class Probe:
    """What the hooks report; this one ignores it all."""

    def sent(self, seconds: float) -> None:
        """An event went out to the channel layer, which took ``seconds`` to take it."""

    def send_failed(self) -> None:
        """An event could not be sent (the layer failed, or the queue was full)."""

    def connections(self, change: int) -> None:
        """A WebSocket connection opened (``+1``) or closed (``-1``) in this process."""

    def subscriptions(self, change: int) -> None:
        """A live connection of this process started or stopped watching something."""


probe = Probe()


def install(new: Probe) -> None:
    """Make ``new`` the probe of this process (``Probe()`` again: no more reports)."""
    global probe
    probe = new
