"""Progress bars and status labels of the admin, rendered from the stored state.

Unfinished rows carry what ``task_api/admin-live.js`` needs to follow them with the JS
client (one WebSocket for the page, polling while it is down), so a bar moves without a
reload; the script computes the same bar and label as :func:`bar` does here.
"""

from __future__ import annotations

from typing import Any

from django.forms.utils import flatatt
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from task_api.conf import task_api_settings
from task_api.models import TERMINAL_STATUSES, TaskStatus

#: The scripts of the task and batch pages: the JS client, then what drives the bars.
SCRIPTS = ("django-task-api.min.js", "task_api/admin-live.js")
#: The bars' style sheet.
STYLES = ("task_api/admin-live.css",)


def client_options(ws_url: str) -> dict[str, str] | None:
    """The JS client's options for the admin's pages (the REST API's base URL and the
    WebSocket's), or ``None`` when the API's URLs are not routed: then nothing is live."""
    try:
        base_url = reverse("task_api:task-list")
    except NoReverseMatch:
        return None
    return {"base-url": base_url, "ws-url": ws_url}


def percent(progress: int | None, target: int | None) -> int | None:
    """Whole percent done (0 to 100), or ``None`` without a target."""
    if not target or target < 0:
        return None
    return max(0, min(100, (progress or 0) * 100 // target))


def status_label(uuid: Any, status: str, cancel_requested: bool = False) -> SafeString:
    """The status, kept live by the script along with the bar of ``uuid``."""
    text = str(TaskStatus(status).label)
    if cancel_requested and status not in TERMINAL_STATUSES:
        text += ", cancel requested"
    return format_html(
        '<span class="task-api-status" data-status-of="{}">{}</span>', str(uuid), text
    )


def counts(uuid: Any, counts: dict[str, int]) -> SafeString:
    """A batch's tasks per status (``3 succeeded, 1 running``), kept live by the script."""
    text = format_html_join(
        ", ", "{} {}", ((counts[s], s.value) for s in TaskStatus if counts.get(s))
    )
    return format_html('<span class="task-api-counts" data-counts-of="{}">{}</span>', uuid, text)


def bar(
    kind: str,
    uuid: Any,
    status: str,
    progress: int | None,
    target: int | None,
    options: dict[str, str] | None,
) -> SafeString:
    """A ``<progress>`` bar and its label: a percentage with a target, else the count
    reached; an unfinished one follows the task (``kind`` ``task``) or batch live."""
    done = percent(progress, target)
    value: int | None
    if target and done is not None:
        value, maximum = max(0, min(progress or 0, target)), target
    elif status == TaskStatus.SUCCEEDED:
        value, maximum = 1, 1
    elif status == TaskStatus.RUNNING:
        value = maximum = None  # indeterminate
    else:
        value, maximum = 0, 1
    label = str(progress) if progress is not None else ""
    if done is not None:
        label = f"{done} %"
    attrs: dict[str, Any] = {
        "class": "task-api-progress",
        "data-kind": kind,
        "data-uuid": str(uuid),
        "data-status": status,
    }
    if options is not None and status not in TERMINAL_STATUSES:
        attrs.update({f"data-{key}": option for key, option in options.items()})
        attrs["data-max-watched"] = task_api_settings.max_subscriptions
    title = f"{progress or 0} of {target}" if target else None
    return format_html(
        '<span{}><progress{}>{}</progress> <span class="task-api-label">{}</span></span>',
        flatatt(attrs),
        flatatt({"value": value, "max": maximum, "title": title}),
        label,
        label,
    )
