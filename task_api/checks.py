"""System checks for the ``TASK_API_*`` settings.

- ``task_api.E001``: an entry cannot be imported.
- ``task_api.E002``: an entry is not a ``Task`` subclass, or has no name.
- ``task_api.E003``: two task classes share a name.
- ``task_api.E004``: the backend cannot be imported, or is not a backend.
- ``task_api.E005``: a listed ``@task`` function has a parameter without an
  annotation, or one with no JSON form (the message names function and parameter).
- ``task_api.E007``: a ``TASKS`` entry of ``TaskAPIBackend`` has ``OPTIONS``
  (reported by the backend's own ``check()``, run by Django's task checks).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.utils.module_loading import import_string

from .conf import task_api_settings
from .exceptions import ConfigurationError


@register()
def check_tasks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report unimportable, non-Task and duplicate task entries."""
    from .functions import FunctionTask, SignatureError, unannotated
    from .registry import load_entry

    errors: list[CheckMessage] = []
    names: dict[str, Any] = {}
    for entry in task_api_settings.background_tasks:
        try:
            cls = load_entry(entry)
        except SignatureError as exc:
            errors.append(Error(str(exc), obj=entry, id="task_api.E005"))
            continue
        except ConfigurationError as exc:
            cause = exc.__cause__
            check_id = "task_api.E001" if isinstance(cause, ImportError) else "task_api.E002"
            errors.append(Error(str(exc), obj=entry, id=check_id))
            continue
        if issubclass(cls, FunctionTask):
            errors.extend(
                Error(
                    f"{cls.name}: parameter {name!r} has no annotation; a function started "
                    "over REST needs a type for every parameter.",
                    hint="Annotate it, e.g. with int, str, list[str] or typing.Any.",
                    obj=entry,
                    id="task_api.E005",
                )
                for name in unannotated(cls)
            )
        other = names.setdefault(cls.name, cls)
        if other is not cls:
            errors.append(
                Error(
                    f"Task name {cls.name!r} is used by both {other.__module__}."
                    f"{other.__qualname__} and {cls.__module__}.{cls.__qualname__}.",
                    hint="Give each task class a unique name.",
                    obj=entry,
                    id="task_api.E003",
                )
            )
    return errors


@register()
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a ``TASK_API_BACKEND`` that cannot be imported or is not a backend."""
    from .backends.base import BaseBackend

    path = task_api_settings.backend
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        return [Error(f"Cannot import TASK_API_BACKEND {path!r}: {exc}", id="task_api.E004")]
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        return [
            Error(
                f"TASK_API_BACKEND {path!r} is not a subclass of "
                "task_api.backends.base.BaseBackend.",
                id="task_api.E004",
            )
        ]
    return []
