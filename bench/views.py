"""Bare DRF views, the baselines of the REST scenarios.

They run behind the same middleware and with the same authentication and
permission classes as the task API, and do the least their job needs.
"""

from __future__ import annotations

from django.db import transaction
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


class HandStartSerializer(serializers.Serializer[dict[str, object]]):
    """The body a hand-written start view accepts."""

    task = serializers.CharField(max_length=200)
    inputs = serializers.DictField()


class HandStartView(APIView):
    """What a developer writes without the library: validate the body with a
    serializer, create a row, ``.delay()`` a Celery task after commit, return the row."""

    def post(self, request: Request) -> Response:
        from .tasks import hand_run

        body = HandStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = TaskRecord.objects.create(
            name=body.validated_data["task"],
            inputs=body.validated_data["inputs"],
            owner=request.user,
        )
        transaction.on_commit(lambda: hand_run.delay(str(record.uuid)))
        return Response(BareTaskSerializer(record).data, status=status.HTTP_201_CREATED)
