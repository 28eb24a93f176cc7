"""Reading a task's streams over REST: the polling side of ``chunks`` frames."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from task_api import protocol
from task_api.api.serializers import StreamChunksSerializer
from task_api.store import streams
from task_api.views.base import TaskAPIView
from task_api.views.schema import error_responses, extend_schema

HIDDEN = ("type", "seq")  # what only the WebSocket needs


class TaskStreamView(TaskAPIView):
    """The chunks of one stream of one of your tasks, from position `offset` on."""

    opens_to_share_links = True

    serializer_class = StreamChunksSerializer  # type: ignore[assignment]

    @extend_schema(
        operation_id="tasks_stream",
        parameters=[
            OpenApiParameter(
                "offset", int, description="The position to read from (default 0); use `next`."
            )
        ],
        responses={200: StreamChunksSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, uuid: Any, stream: str) -> Response:
        record = self.get_record(uuid)
        try:
            name = protocol.stream_name(stream)
        except ValueError as exc:
            raise ValidationError({"stream": [str(exc)]}) from None
        try:
            since = protocol.position(request.query_params.get("offset", "0"))
            frame = streams.chunks_frame(record, name, since)
        except ValueError as exc:
            raise ValidationError({"offset": [str(exc)]}) from None
        return Response({key: value for key, value in frame.items() if key not in HIDDEN})
