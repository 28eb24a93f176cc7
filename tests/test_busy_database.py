"""Many users starting tasks at once on SQLite: a locked database answers 503, never 500.

The web server here waits only 1 ms for SQLite's write lock (the demo's default
waits 5 s, and still lost some starts under load), so starts that find the
database locked are certain; each must answer the documented 503 with
``Retry-After``, and the client's retry must then start the task.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from task_api.models import TaskRecord, TaskStatus
from tests.services import DaphneServer, _start_or_fail

USERS = 32
STARTS = 600


@pytest.fixture
def impatient_daphne(
    celery_worker: Any, services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaphneServer]:
    env = {**services_env, "TASK_API_TEST_SQLITE_TIMEOUT": "0.001"}
    server = DaphneServer(env, tmp_path_factory.mktemp("busy-daphne") / "daphne.log")
    _start_or_fail(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_concurrent_starts_from_many_users_never_answer_500(
    impatient_daphne: DaphneServer, django_user_model: Any
) -> None:
    from django.contrib.auth.hashers import make_password

    password = make_password("pw")
    django_user_model.objects.bulk_create(
        [django_user_model(username=f"user{i}", password=password) for i in range(USERS)]
    )
    statuses: collections.Counter[int] = collections.Counter()
    sessions = [requests.Session() for _ in range(USERS)]
    for i, session in enumerate(sessions):
        session.auth = (f"user{i}", "pw")

    def start(i: int) -> str:
        session = sessions[i % USERS]
        body = {"task": "add", "inputs": {"a": i, "b": 1}}
        for _ in range(50):
            response = session.post(f"{impatient_daphne.url}/tasks/", json=body, timeout=60)
            statuses[response.status_code] += 1
            if response.status_code != 503:
                assert response.status_code == 201, response.text
                return str(response.json()["uuid"])
            assert response.headers["Retry-After"] == "1"
            assert response.json()["detail"].startswith("The database is")
            time.sleep(0.05)  # shorter than Retry-After, to keep the test short
        raise AssertionError("a start answered 503 fifty times in a row")

    with ThreadPoolExecutor(max_workers=USERS) as pool:
        uuids = list(pool.map(start, range(STARTS)))
    print(f"answers: {dict(statuses)}")
    assert set(statuses) <= {201, 503}
    assert len(set(uuids)) == STARTS
    deadline = time.monotonic() + 120
    records = TaskRecord.objects.filter(uuid__in=uuids)
    while records.unfinished().exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert records.filter(status=TaskStatus.SUCCEEDED).count() == STARTS
    wrong = [r.uuid for r in records if r.outputs != {"sum": r.inputs["a"] + 1}]
    assert wrong == []
