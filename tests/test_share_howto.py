"""The share how-to (docs/how-to/share.md): the owner's view makes a link to their own
task only, and the public page, in a fresh Chromium context (no session) against daphne
and a Celery worker, follows the task to its end with it; a revoked link shows its code.
``tests/test_readme.py`` lists these checks."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from task_api import links
from task_api.models import TaskRecord
from tests.readme_snippets import load_snippet_module, snippet

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

STATIC_JS = Path(__file__).resolve().parent.parent / "task_api" / "static"


@pytest.fixture
def howto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The snippets' views, routed, with the page snippet as their template."""
    import sys

    from django.conf import settings
    from django.urls import path

    before = set(sys.modules)
    templates = tmp_path / "templates" / "myapp"
    templates.mkdir(parents=True)
    (templates / "export_progress.html").write_text(snippet("share-page"))
    views = load_snippet_module("share-view", "myapp.views")
    urls = types.ModuleType("share_howto_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("exports/<uuid:uuid>/share/", views.share_export),
        path("exports/progress/", views.export_progress, name="export-progress"),
    ]
    engine = {**settings.TEMPLATES[0], "DIRS": [tmp_path / "templates"]}
    with override_settings(TEMPLATES=[engine], ROOT_URLCONF=urls):
        yield views
    for name in set(sys.modules) - before:
        if name == "myapp" or name.startswith("myapp."):
            monkeypatch.delitem(sys.modules, name, raising=False)


def _link(user: Any, uuid: Any) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    answer = client.post(f"/exports/{uuid}/share/")
    return answer.status_code, answer.json()["url"] if answer.status_code == 200 else ""


@pytest.mark.django_db
def test_the_view_shares_only_the_owners_task(howto: types.ModuleType, users: Users) -> None:
    record = TaskRecord.objects.create(name="wait", owner=users.alice, status="running", seq=1)
    assert Client().post(f"/exports/{record.uuid}/share/").status_code == 302  # login
    status, url = _link(users.alice, record.uuid)
    assert status == 200
    parts = urlsplit(url)
    assert parts.path == "/exports/progress/"
    fragment = parse_qs(parts.fragment)
    assert fragment["task"] == [str(record.uuid)]
    assert fragment["share"][0].startswith("share_")
    assert _link(users.bob, record.uuid)[0] == 404
    owner = Client()
    owner.force_login(users.alice)
    assert owner.get(f"/exports/{record.uuid}/share/").status_code == 405
    page = Client().get("/exports/progress/")
    assert page.status_code == 200
    assert '<script src="/static/django-task-api.min.js">' in page.content.decode()


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_public_page_follows_the_task_without_a_session(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[Any], SessionCookie],
    howto: types.ModuleType,
) -> None:
    cookie = session_cookie(users.alice)
    owner = browser.new_context(base_url=daphne_server.url)
    owner.add_cookies(
        [{"name": k, "value": v, "url": daphne_server.url} for k, v in cookie.cookies.items()]
    )
    started = owner.request.post(
        "/tasks/",
        data={"task": "wait", "inputs": {"seconds": 3}},
        headers={"X-CSRFToken": cookie.csrftoken, "Referer": daphne_server.url + "/"},
    )
    assert started.status == 201, started.text()
    uuid = started.json()["uuid"]
    owner.close()
    status, url = _link(users.alice, uuid)
    assert status == 200
    html = Client().get("/exports/progress/").content.decode()
    fragment = urlsplit(url).fragment

    visitor = browser.new_context(base_url=daphne_server.url)  # no cookies at all
    visitor.set_default_timeout(20_000)
    visitor.grant_permissions(["local-network-access"], origin=daphne_server.url)
    visitor.route(
        f"{daphne_server.url}/exports/progress/",
        lambda route: route.fulfill(content_type="text/html; charset=utf-8", body=html),
    )
    visitor.route(
        "**/static/django-task-api.min.js",
        lambda route: route.fulfill(
            path=STATIC_JS / "django-task-api.min.js", content_type="text/javascript"
        ),
    )
    try:
        page = visitor.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"/exports/progress/#{fragment}")
        page.wait_for_function("document.getElementById('bar').value > 0")
        page.wait_for_function(
            "document.getElementById('status').textContent.startsWith('Done')", timeout=30_000
        )
        assert page.text_content("#status") == "Done: succeeded"
        assert page.evaluate("document.getElementById('bar').value") == 3
        # Revoked: the same page now shows the link's refusal.
        assert links.revoke(TaskRecord.objects.get(uuid=uuid)) == 1
        page.reload()
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Cannot')")
        assert page.text_content("#status") == "Cannot follow this export: share_revoked"
        assert errors == []
    finally:
        visitor.close()


SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "share-view": [
        test_the_view_shares_only_the_owners_task,
        test_the_public_page_follows_the_task_without_a_session,
    ],
    "share-page": [test_the_public_page_follows_the_task_without_a_session],
}
