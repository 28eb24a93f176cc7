"""The service fixtures start real processes that answer, and restart cleanly."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import redis
from django.contrib.auth.models import User

from tests.services import (
    CeleryWorker,
    DaphneServer,
    RedisServer,
    Service,
    ServiceError,
    SessionCookie,
    Users,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.services


def get(
    base_url: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    """GET without following redirects."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_redis_answers_and_restarts_on_the_same_port(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    client.close()
    port, pid = redis_server.port, redis_server.pid

    redis_server.stop()
    assert not redis_server.ping()
    redis_server.start()

    assert (redis_server.port, redis_server.url) == (port, f"redis://127.0.0.1:{port}/0")
    assert redis_server.pid != pid
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    client.close()


def test_celery_worker_answers_ping_over_redis(celery_worker: CeleryWorker) -> None:
    celery_worker.wait_ready()  # another test may just have restarted Redis
    with celery_worker.control_app() as app:
        replies = app.control.inspect(timeout=2).ping()
    assert replies == {celery_worker.nodename: {"ok": "pong"}}
    assert len(celery_worker.child_pids()) == 2


def test_celery_worker_comes_back_after_a_redis_restart(
    celery_worker: CeleryWorker, redis_server: RedisServer
) -> None:
    redis_server.restart()

    celery_worker.wait_ready()
    assert celery_worker.ping()
    assert len(celery_worker.child_pids()) == 2


def test_celery_worker_restarts(celery_worker: CeleryWorker) -> None:
    old_pid, old_children = celery_worker.pid, celery_worker.child_pids()

    celery_worker.restart()

    assert celery_worker.pid != old_pid
    assert celery_worker.ping()
    assert len(celery_worker.child_pids()) == 2
    assert not set(celery_worker.child_pids()) & set(old_children)


def test_a_service_that_dies_at_start_reports_its_log(tmp_path: Path) -> None:
    service = Service(
        "broken",
        ["sh", "-c", "echo cannot bind; exit 3"],
        log_path=tmp_path / "broken.log",
        ready=lambda: False,
    )

    with pytest.raises(ServiceError, match=r"exited with code 3(.|\n)*cannot bind"):
        service.start()
    assert not service.running


@pytest.mark.django_db(transaction=True)
def test_daphne_serves_http(daphne_server: DaphneServer) -> None:
    response = get(daphne_server.url, "/admin/login/")
    assert response.status == 200
    assert daphne_server.ws_url == daphne_server.url.replace("http://", "ws://")


@pytest.mark.django_db(transaction=True)
def test_daphne_restarts_on_the_same_port(daphne_server: DaphneServer) -> None:
    url = daphne_server.url

    daphne_server.restart()

    assert daphne_server.url == url
    assert get(url, "/admin/login/").status == 200


def test_session_cookie_lets_a_client_act_as_the_user(
    daphne_server: DaphneServer, users: Users, session_cookie: Callable[..., SessionCookie]
) -> None:
    staff = session_cookie(users.staff)
    response = get(daphne_server.url, "/admin/", {"Cookie": staff.header})
    assert response.status == 200

    alice = session_cookie(users.alice)
    assert alice.sessionid != staff.sessionid
    response = get(daphne_server.url, "/admin/", {"Cookie": alice.header})
    assert response.status == 302  # not staff: sent to the login page

    response = get(daphne_server.url, "/admin/")
    assert response.status == 302


def test_users_have_their_passwords(users: Users) -> None:
    assert users.alice.check_password("pw-alice")
    assert users.bob.check_password("pw-bob")
    assert users.staff.is_staff
    assert not users.alice.is_staff
    assert not users.bob.is_staff


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_shows_the_admin_to_a_logged_in_user(
    page: Page,
    daphne_server: DaphneServer,
    users: Users,
    session_cookie: Callable[..., SessionCookie],
) -> None:
    cookie = session_cookie(users.staff)
    page.context.add_cookies(
        [
            {"name": name, "value": value, "url": daphne_server.url}
            for name, value in cookie.cookies.items()
        ]
    )

    page.goto(f"{daphne_server.url}/admin/")

    assert page.url == f"{daphne_server.url}/admin/"
    assert "Site administration" in page.title()
    # The ORM still works between Playwright calls, and sees committed data.
    assert User.objects.filter(is_staff=True).get() == users.staff
