"""WebSocket consumers."""

from .tasks import TaskConsumer

__all__ = ["TaskConsumer"]
