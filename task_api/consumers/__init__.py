"""WebSocket consumers."""

from task_api.consumers.tasks import TaskConsumer

__all__ = ["TaskConsumer"]
