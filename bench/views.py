"""Bare DRF views, the baselines of the REST scenarios.

They run behind the same middleware and with the same authentication and
permission classes as the task API, and do the least their job needs.
"""

from __future__ import annotations

from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from task_api.models import TaskRecord


class BareStartView(APIView):
    """Answers 201 to any POST, without creating anything."""

    def post(self, request: Request) -> Response:
        return Response({"ok": True}, status=status.HTTP_201_CREATED)


class BareTaskSerializer(serializers.ModelSerializer[TaskRecord]):
    """Every column of a task record, as DRF renders it."""

    class Meta:
        model = TaskRecord
        fields = "__all__"


class BareTaskView(generics.RetrieveAPIView[TaskRecord]):
    """One task record by uuid, with no ownership rule."""

    queryset = TaskRecord.objects.all()
    serializer_class = BareTaskSerializer
    lookup_field = "uuid"
