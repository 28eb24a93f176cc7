"""The OpenAPI document: each registered task's inputs appear in ``POST /tasks/`` and its
outputs in the task JSON, whatever ``DEFAULT_SCHEMA_CLASS`` the project sets, or none."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.utils import extend_schema as _extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers

from task_api import __version__
from task_api.api import access
from task_api.registry import get_tasks
from task_api.views.base import TaskAPIView

F = TypeVar("F", bound=Callable[..., Any])


def extend_schema(**kwargs: Any) -> Callable[[F], F]:
    """drf-spectacular's ``extend_schema`` on its own ``AutoSchema``: unnamed, it would build
    on ``DEFAULT_SCHEMA_CLASS``, and DRF's own class there (the default) breaks the document."""

    def decorate(method: F) -> F:
        method.schema = AutoSchema  # type: ignore[attr-defined]
        return _extend_schema(**kwargs)(method)

    return decorate


class TaskStartSchema(serializers.Serializer[dict[str, Any]]):
    """Stands for the body of ``POST /tasks/`` in the OpenAPI document."""

    task = serializers.CharField()
    inputs = serializers.DictField(required=False)


class CatalogEntrySerializer(serializers.Serializer[dict[str, Any]]):
    """One registered task in ``GET /tasks/catalog/``."""

    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    inputs = serializers.DictField(help_text="JSON Schema of the inputs")
    outputs = serializers.DictField(help_text="JSON Schema of the outputs")
    streams = serializers.DictField(
        help_text="The declared streams: JSON Schema of one chunk of each, by name"
    )


class TaskStartSchemaExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """Describes the start body as one alternative per registered task."""

    target_class = TaskStartSchema

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        # Each variant is a component of its own: an OpenAPI discriminator only
        # considers referenced schemas, and drf-spectacular's enum extraction
        # would otherwise merge the one-value ``task`` enums of all variants.
        mapping: dict[str, str] = {}
        used: set[str] = set()
        for name, cls in sorted(get_tasks().items()):
            required = any(p.required for p in cls.inputs.values())
            variant: dict[str, Any] = {
                "type": "object",
                "title": name,
                "properties": {
                    "task": {"type": "string", "enum": [name]},
                    "inputs": _request_inputs(cls.input_schema()),
                },
                "required": ["task", "inputs"] if required else ["task"],
                "additionalProperties": False,
            }
            if description := cls.get_description():
                variant["description"] = description
            component = ResolvedComponent(  # type: ignore[no-untyped-call]
                name=_component_name(name, used),
                type=ResolvedComponent.SCHEMA,
                schema=variant,
                object=cls,
            )
            auto_schema.registry.register_on_missing(component)
            mapping[name] = component.ref["$ref"]
        if not mapping:
            return {"type": "object"}
        return {
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "task", "mapping": mapping},
            "required": ["task"],  # also marks the request body as required
        }


def _request_inputs(schema: dict[str, Any]) -> dict[str, Any]:
    """The inputs' schema for a request body: defaults said in the description.

    Generators such as openapi-typescript make a property with a ``default`` required (always
    present in a response), but such an input is optional in a request.
    """
    schema = copy.deepcopy(schema)
    for prop in schema.get("properties", {}).values():
        if "default" in prop:
            note = f"Default: {json.dumps(prop.pop('default'), ensure_ascii=False)}."
            prop["description"] = f"{prop['description']} {note}" if "description" in prop else note
    return schema


def _component_name(task_name: str, used: set[str], prefix: str = "Start") -> str:
    """A unique component name for a task's schema (``[A-Za-z0-9]`` only)."""
    words = re.findall(r"[A-Za-z0-9]+", task_name)
    base = prefix + "".join(word[:1].upper() + word[1:] for word in words)
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
    return [e for e in endpoints if getattr(e[3], "__module__", "").startswith("task_api.")]


def add_task_outputs(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Give each task's outputs a ``<Name>Outputs`` component (a task JSON's ``outputs`` is
    one of them, or ``{}``), and keep component descriptions to one paragraph."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for schema in schemas.values():
        if "description" in schema:
            schema["description"] = schema["description"].split("\n\n", 1)[0].strip()
    used = set(schemas)
    refs = []
    for name, cls in sorted(get_tasks().items()):
        component = _component_name(name, used, prefix="Outputs")
        schemas[component] = {"title": f"{name} outputs", **cls.output_schema()}
        refs.append({"$ref": f"#/components/schemas/{component}"})
    task = schemas.get("Task", {}).get("properties", {})
    if "outputs" in task and refs:
        task["outputs"] = {
            "description": "{} until the task succeeds, then the outputs of its task.",
            "anyOf": [{"type": "object", "maxProperties": 0}, *refs],
            "readOnly": True,
        }
    return result


_EVENTS = {
    "tasks_retrieve": (
        "tasks_events",
        "The live events of one of your tasks, and of the streams `streams` names, as "
        "Server-Sent Events (`text/event-stream`): `snapshot`, `update`, `chunks` and "
        "`error`, each with the WebSocket frame's JSON as its data and the position as its "
        "`id`. The answer ends after the task's terminal snapshot and the `done` chunks of "
        "every stream; a reconnect with `Last-Event-ID` goes on from there.",
    ),
    "tasks_batches_retrieve": (
        "tasks_batches_events",
        "The live events of one of your batches, as Server-Sent Events "
        "(`text/event-stream`): `batch_snapshot` and `batch_update`, each with its `seq` as "
        "its `id`; the answer ends after the batch's terminal state.",
    ),
}


def add_event_streams(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Describe the Server-Sent Events endpoints (plain views, which the generator skips)
    beside the task and batch they follow."""
    paths = result.setdefault("paths", {})
    for path, operations in list(paths.items()):
        retrieve = operations.get("get", {})
        if retrieve.get("operationId") not in _EVENTS:
            continue
        operation_id, description = _EVENTS[retrieve["operationId"]]
        parameters = list(retrieve.get("parameters", []))
        if operation_id == "tasks_events":
            parameters.append(_STREAMS_PARAMETER)
        parameters.append(_LAST_EVENT_ID_PARAMETER)
        named = (
            "`streams` or `Last-Event-ID`" if operation_id == "tasks_events" else "`Last-Event-ID`"
        )
        errors = {code: retrieve["responses"][code] for code in ("401", "403", "404")}
        errors["400"] = {
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": {}}}
            },
            "description": f"A bad {named}, named as the field.",
        }
        paths[f"{path}events/"] = {
            "get": {
                **{key: value for key, value in retrieve.items() if key in ("tags", "security")},
                "operationId": operation_id,
                "description": description,
                "parameters": parameters,
                "responses": {
                    "200": {
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        "description": "Events, until the end or until the client leaves.",
                    },
                    "204": {"description": "`Last-Event-ID` is at the end: nothing follows."},
                    **errors,
                    "501": {**errors["404"], "description": "Not served by an ASGI server."},
                },
            }
        }
    return result


_STREAMS_PARAMETER = {
    "in": "query",
    "name": "streams",
    "schema": {"type": "string"},
    "description": "The streams to follow, comma-separated, each `name` or `name:offset` "
    "(from position `offset`; default 0): `answer,rows:3`.",
}
_LAST_EVENT_ID_PARAMETER = {
    "in": "header",
    "name": "Last-Event-ID",
    "schema": {"type": "string"},
    "description": "The `id` of the last event received (EventSource sends it when it "
    "reconnects): the events go on from there.",
}


class TaskSchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of the task API."""

    schema = AutoSchema()  # whatever DEFAULT_SCHEMA_CLASS the project has

    custom_settings = {
        "TITLE": "Task API",
        "DESCRIPTION": "Start background tasks and follow their progress.",
        "VERSION": __version__,
        "PREPROCESSING_HOOKS": ["task_api.views.schema.only_task_api"],
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "task_api.views.schema.add_task_outputs",
            "task_api.views.schema.add_event_streams",
        ],
        "COMPONENT_SPLIT_REQUEST": True,
        # Operation ids from the whole path (tasks_list, tasks_create, ...), not root_*.
        "SCHEMA_PATH_PREFIX": "",
    }

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]

    def get_authenticators(self) -> list[Any]:
        return TaskAPIView.get_authenticators(self)  # type: ignore[arg-type]

    def get_permissions(self) -> list[Any]:
        return access.permissions()


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
