"""Shared test configuration: the browser fixtures, the service fixtures of
``tests/services.py`` and the turns of concurrent passes of ``tests/passes.py``.

Browser tests use Debian's Chromium (``make test`` installs it), driven by
Playwright's sync API; Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from pytest_django import DjangoDbBlocker

pytest_plugins = ["tests.services", "tests.passes"]

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps dialling out, which a closed
# network refuses; --no-sandbox because the tests may run as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """pytest-django's test database, with this process's runtime stopped and other
    sessions cut off before it is dropped.

    Threads of the test process (the executor of ``sync_to_async``, in-process
    task runners) keep database connections of their own, and PostgreSQL
    refuses to drop a database that has connections.
    """
    yield
    from django.db import connections

    from task_api.engine import runtime

    with django_db_blocker.unblock():
        runtime.stop()  # in-process tasks still running end now, while their database is there
    names = [c.settings_dict["NAME"] for c in connections.all() if c.vendor == "postgresql"]
    if names:
        with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                [names],
            )


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The path of Debian's Chromium; fails, never skips, when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (Debian package chromium)",
            pytrace=False,
        )
    return CHROMIUM


class _BrowserSession:
    """Headless Chromium and the event loop of Playwright's sync API.

    Between two calls, that API leaves its loop marked as running in this
    thread. Django then refuses ORM calls ("async context") and pytest-asyncio
    cannot run a loop of its own, so the mark is kept only during browser tests.
    """

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self._loop = asyncio.get_running_loop()  # marked by the last sync call
        self.suspend()

    def suspend(self) -> None:
        asyncio._set_running_loop(None)

    def resume(self) -> None:
        asyncio._set_running_loop(self._loop)

    @contextlib.contextmanager
    def active(self) -> Iterator[Browser]:
        self.resume()
        try:
            yield self.browser
        finally:
            self.suspend()


@pytest.fixture(scope="session")
def _browser_session(chromium_executable: str) -> Iterator[_BrowserSession]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        session = _BrowserSession(
            playwright.chromium.launch(
                executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
            )
        )
        yield session
        # Playwright's own shutdown needs its loop marked; it clears the mark.
        session.resume()
        session.browser.close()


def _in_test_transaction(request: pytest.FixtureRequest) -> bool:
    """True if the test runs inside a transaction that is rolled back after it."""
    if {"transactional_db", "live_server"} & set(request.fixturenames):
        return False
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        return not marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
    return "db" in request.fixturenames


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """pytest-django's ``settings`` fixture deletes and restores a setting without
    ``setting_changed``: the next test reads the settings as they are."""
    yield
    from task_api import conf

    conf.reload()


@pytest.fixture(autouse=True)
def _browser_test(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Let Playwright and the ORM work side by side during a browser test.

    While Playwright's loop is marked as running, Django takes the thread for
    an async one: ORM calls need DJANGO_ALLOW_ASYNC_UNSAFE and get a database
    connection of their own, closed after the test. That connection cannot see
    a test's uncommitted transaction, so browser tests must commit their data.
    """
    if "browser" not in request.fixturenames:
        yield
        return
    if _in_test_transaction(request):
        pytest.fail(
            "a browser test sees the database through a connection of its own: "
            "mark it @pytest.mark.django_db(transaction=True)",
            pytrace=False,
        )
    from django.db import connections

    session: _BrowserSession = request.getfixturevalue("_browser_session")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with session.active():
        try:
            yield
        finally:
            connections.close_all()


@pytest.fixture(scope="session")
def browser(_browser_session: _BrowserSession) -> Browser:
    """Headless Chromium driven by Playwright, shared by the session."""
    return _browser_session.browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies, no storage)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
