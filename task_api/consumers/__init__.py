"""The live doors: the WebSocket consumer and Server-Sent Events, each a
:class:`~.connection.Connection`."""

from task_api.consumers.consumer import TaskConsumer

__all__ = ["TaskConsumer"]
