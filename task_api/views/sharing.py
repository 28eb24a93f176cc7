"""Share links over REST: create and revoke the links to a task or a batch."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from task_api.engine import sharing
from task_api.models import ShareLink, TaskBatch, TaskRecord
from task_api.views.base import TaskAPIView
from task_api.views.batches import BatchView
from task_api.views.schema import error_responses, extend_schema


class ShareRequestSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of a share request."""

    expires_in = serializers.FloatField(
        required=False, help_text="Seconds the link lasts (default `TASK_API_SHARE_EXPIRY`)."
    )
    can_cancel = serializers.BooleanField(
        required=False, default=False, help_text="Whether its holder may cancel."
    )


class ShareLinkSerializer(serializers.Serializer[dict[str, Any]]):
    """A new share link: its token is shown this once."""

    token = serializers.CharField()
    expires = serializers.DateTimeField()
    can_cancel = serializers.BooleanField()


class RevokeRequestSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of a revoke request: one token, or none for every link of the object."""

    token = serializers.CharField(required=False)


class RevokedSerializer(serializers.Serializer[dict[str, Any]]):
    """How many live links were revoked."""

    revoked = serializers.IntegerField()


def _valid(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Sharing(TaskAPIView):
    """Links are made and revoked by whoever may cancel the object (not by a link holder)."""

    def target(self, uuid: Any) -> TaskRecord | TaskBatch:
        raise NotImplementedError

    def share(self, request: Request, uuid: Any) -> Response:
        obj = self.check_cancel(self.target(uuid))
        wanted = _valid(ShareRequestSerializer, request.data)
        try:
            token, link = sharing.create(
                obj,
                expires_in=wanted.get("expires_in"),
                can_cancel=wanted["can_cancel"],
                by=request.user,
            )
        except ValueError as exc:
            raise ValidationError({"expires_in": [str(exc)]}) from None
        return Response(_link_json(token, link), status=status.HTTP_201_CREATED)

    def revoke(self, request: Request, uuid: Any) -> Response:
        obj = self.check_cancel(self.target(uuid))
        token = _valid(RevokeRequestSerializer, request.data or {}).get("token")
        return Response({"revoked": sharing.revoke(obj, token)})


def _link_json(token: str, link: ShareLink) -> dict[str, Any]:
    expires = link.expires.isoformat().replace("+00:00", "Z")
    return {"token": token, "expires": expires, "can_cancel": link.can_cancel}


_SHARE = {
    "request": ShareRequestSerializer,
    "responses": {201: ShareLinkSerializer, **error_responses(400, 404)},
}
_REVOKE = {
    "request": RevokeRequestSerializer,
    "responses": {200: RevokedSerializer, **error_responses(400, 404)},
}


class TaskShareView(_Sharing):
    """Make a read-only link to one of your tasks: whoever holds its token may read and
    watch the task (and cancel it, if `can_cancel`) without logging in, until it expires."""

    def target(self, uuid: Any) -> TaskRecord:
        return self.get_record(uuid)

    @extend_schema(operation_id="tasks_share", **_SHARE)
    def post(self, request: Request, uuid: Any) -> Response:
        return self.share(request, uuid)


class TaskRevokeView(_Sharing):
    """Revoke one share link of a task (`token`), or all of them."""

    def target(self, uuid: Any) -> TaskRecord:
        return self.get_record(uuid)

    @extend_schema(operation_id="tasks_share_revoke", **_REVOKE)
    def post(self, request: Request, uuid: Any) -> Response:
        return self.revoke(request, uuid)


class BatchShareView(_Sharing, BatchView):
    """Make a read-only link to one of your batches and its tasks."""

    def target(self, uuid: Any) -> TaskBatch:
        return self.get_batch(uuid)

    @extend_schema(operation_id="tasks_batches_share", **_SHARE)
    def post(self, request: Request, uuid: Any) -> Response:
        return self.share(request, uuid)


class BatchRevokeView(_Sharing, BatchView):
    """Revoke one share link of a batch (`token`), or all of them."""

    def target(self, uuid: Any) -> TaskBatch:
        return self.get_batch(uuid)

    @extend_schema(operation_id="tasks_batches_share_revoke", **_REVOKE)
    def post(self, request: Request, uuid: Any) -> Response:
        return self.revoke(request, uuid)
