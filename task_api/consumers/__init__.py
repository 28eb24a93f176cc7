"""WebSocket consumers."""

from task_api.consumers.consumer import TaskConsumer

__all__ = ["TaskConsumer"]
