"""The OpenAPI document: each registered task's inputs appear in ``POST /tasks/``."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers

from .registry import get_tasks


class TaskStartSchema(serializers.Serializer[dict[str, Any]]):
    """Stands for the body of ``POST /tasks/`` in the OpenAPI document."""

    task = serializers.CharField()
    inputs = serializers.DictField(required=False)


class CatalogEntrySerializer(serializers.Serializer[dict[str, Any]]):
    """One registered task in ``GET /tasks/catalog/``."""

    name = serializers.CharField()
    description = serializers.CharField()
    inputs = serializers.DictField(help_text="JSON Schema of the inputs")
    outputs = serializers.DictField(help_text="JSON Schema of the outputs")


class TaskStartSchemaExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """Describes the start body as one alternative per registered task."""

    target_class = TaskStartSchema

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        # Each variant is a component of its own: an OpenAPI discriminator only
        # considers referenced schemas, and drf-spectacular's enum extraction
        # would otherwise merge the one-value ``task`` enums of all variants.
        variants: list[dict[str, str]] = []
        mapping: dict[str, str] = {}
        used: set[str] = set()
        for name, cls in sorted(get_tasks().items()):
            variant: dict[str, Any] = {
                "type": "object",
                "title": name,
                "properties": {
                    "task": {"type": "string", "enum": [name]},
                    "inputs": cls.input_schema(),
                },
                "required": ["task", "inputs"]
                if any(p.required for p in cls.inputs.values())
                else ["task"],
                "additionalProperties": False,
            }
            description = cls.get_description()
            if description:
                variant["description"] = description
            component = ResolvedComponent(  # type: ignore[no-untyped-call]
                name=_component_name(name, used),
                type=ResolvedComponent.SCHEMA,
                schema=variant,
                object=cls,
            )
            auto_schema.registry.register_on_missing(component)
            variants.append(component.ref)
            mapping[name] = component.ref["$ref"]
        if not variants:
            return {"type": "object"}
        return {
            "oneOf": variants,
            "discriminator": {"propertyName": "task", "mapping": mapping},
            "required": ["task"],  # also marks the request body as required
        }


def _component_name(task_name: str, used: set[str]) -> str:
    """A unique component name for a task's start body (``[A-Za-z0-9]`` only)."""
    words = re.findall(r"[A-Za-z0-9]+", task_name)
    base = "Start" + "".join(word[:1].upper() + word[1:] for word in words)
    name, number = base, 1
    while name in used:
        number += 1
        name = f"{base}{number}"
    used.add(name)
    return name


def only_task_api(
    endpoints: list[tuple[str, str, str, Any]], **kwargs: Any
) -> list[tuple[str, str, str, Any]]:
    """Keep the endpoints of this app only."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(endpoint[3], "__module__", "").startswith("task_api.")
    ]


class TaskSchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of the task API."""

    custom_settings = {
        "TITLE": "Task API",
        "DESCRIPTION": "Start background tasks and follow their progress.",
        "PREPROCESSING_HOOKS": ["task_api.schema.only_task_api"],
        "COMPONENT_SPLIT_REQUEST": True,
    }

    def get_authenticators(self) -> list[Any]:
        from .views import TaskAPIView

        return TaskAPIView.get_authenticators(self)  # type: ignore[arg-type]

    def get_permissions(self) -> list[Any]:
        from .views import TaskAPIView

        return TaskAPIView.get_permissions(self)  # type: ignore[arg-type]


class DetailSerializer(serializers.Serializer[dict[str, Any]]):
    """An error other than a validation error."""

    detail = serializers.CharField()


_ERROR_DESCRIPTIONS = {
    400: "Field errors, each field with a list of messages.",
    401: "Not authenticated.",
    403: "Not allowed.",
    404: "No such task, or not yours.",
    409: "The task already finished.",
    413: "The request body is too large.",
    429: "Too many unfinished tasks.",
    503: "The task queue is unavailable.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the error status codes an endpoint can answer."""
    return {
        code: OpenApiResponse(
            response=OpenApiTypes.OBJECT if code == 400 else DetailSerializer,
            description=_ERROR_DESCRIPTIONS[code],
        )
        for code in (401, 403, *codes)
    }
