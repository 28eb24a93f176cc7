"""The streams how-to (docs/how-to/streams.md): its task and function write what it says,
and its view and page, in Chromium against daphne and a Celery worker, show the whole
answer once, through a reload. ``tests/test_readme.py`` lists these checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client, override_settings

from task_api import testing
from task_api.functions import django_tasks_available
from tests.readme_snippets import load_snippet_module, snippet

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.services import CeleryWorker, DaphneServer, SessionCookie, Users

STREAMS_JS = Path(__file__).resolve().parent.parent / "task_api" / "static"
ANSWER = "About tea: " + "".join(f"word{n} " for n in range(1, 30))


@pytest.fixture
def snippet_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Snippets loaded as ``myapp.*`` modules are removed after the test."""
    import sys

    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name == "myapp" or name.startswith("myapp."):
            monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.mark.django_db
def test_the_task_writes_its_answer_word_by_word() -> None:
    from tests.project.readme_streams import Answer

    run = testing.run(Answer, question="tea", words=4).assert_succeeded()
    assert run.streams == {"answer": ["About tea: ", "word1 ", "word2 ", "word3 "]}
    assert Answer.stream_schema() == {"answer": {"type": "string"}}


@pytest.mark.skipif(not django_tasks_available(), reason="needs django.tasks or django-tasks")
@pytest.mark.django_db
def test_the_function_writes_through_progress(snippet_modules: None) -> None:
    module = load_snippet_module("streams-function", "myapp.tasks")
    run = testing.run(module.shout, "hey").assert_succeeded()
    assert run.streams == {"letters": ["H", "E", "Y"]}
    assert run.return_value == 3


def _rendered_page(tmp_path: Path, user: Any, snippet_modules: None) -> str:
    """The view's answer to ``user``, with the page snippet as its template."""
    templates = tmp_path / "templates" / "myapp"
    templates.mkdir(parents=True)
    (templates / "answer.html").write_text(snippet("streams-page"))
    views = load_snippet_module("streams-view", "myapp.views")
    client = Client()
    client.force_login(user)
    from django.conf import settings

    engine = {**settings.TEMPLATES[0], "DIRS": [tmp_path / "templates"]}
    with override_settings(TEMPLATES=[engine], ROOT_URLCONF=_urls(views.answer_page)):
        assert Client().get("/answer/").status_code == 302  # login_required
        response = client.get("/answer/")
    assert response.status_code == 200
    return response.content.decode()


def _urls(view: Callable[..., Any]) -> Any:
    import types

    from django.urls import path

    module = types.ModuleType("streams_howto_urls")
    module.urlpatterns = [path("answer/", view)]  # type: ignore[attr-defined]
    return module


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_page_shows_the_whole_answer_once_through_a_reload(
    browser: Browser,
    celery_worker: CeleryWorker,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[[Any], SessionCookie],
    tmp_path: Path,
    snippet_modules: None,
) -> None:
    from tests.test_readme import _alice_context

    html = _rendered_page(tmp_path, users.alice, snippet_modules)
    assert '<script src="/static/django-task-api.streams.min.js">' in html
    context = _alice_context(browser, daphne_server, session_cookie(users.alice), html)
    context.route(
        "**/static/django-task-api.streams.min.js",
        lambda route: route.fulfill(
            path=STREAMS_JS / "django-task-api.streams.min.js", content_type="text/javascript"
        ),
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/readme-page/")
        page.wait_for_function("document.getElementById('answer').textContent.includes('word8 ')")
        page.reload()
        page.wait_for_function("document.getElementById('answer').dataset.status", timeout=30_000)
        answer = page.locator("#answer")
        assert answer.get_attribute("data-status") == "succeeded"
        assert answer.text_content() == ANSWER
        assert errors == []
    finally:
        context.close()


SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "streams-task": [test_the_task_writes_its_answer_word_by_word],
    "streams-function": [test_the_function_writes_through_progress],
    "streams-view": [test_the_page_shows_the_whole_answer_once_through_a_reload],
    "streams-page": [test_the_page_shows_the_whole_answer_once_through_a_reload],
}
