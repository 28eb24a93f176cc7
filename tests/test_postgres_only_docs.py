"""The code blocks of docs/how-to/postgres-only.md: the settings snippet is the configuration
that tests/test_postgres_only.py runs, and the commands exist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests import readme_snippets
from tests.project import settings as project_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = "docs/how-to/postgres-only.md"
PG_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "app",
    "USER": "app",
    "HOST": "127.0.0.1",
    "PORT": "5432",
}


def _settings() -> dict[str, object]:
    namespace: dict[str, object] = {
        "INSTALLED_APPS": ["task_api"],
        "DATABASES": {"default": dict(PG_DATABASE)},
    }
    return readme_snippets.exec_snippet("postgres-only-settings", namespace)


def test_settings_snippet_is_the_tested_configuration() -> None:
    settings = _settings()
    assert settings["INSTALLED_APPS"] == [
        "task_api",
        "procrastinate.contrib.django",
        "channels_postgres",
    ]
    assert settings["TASK_API_BACKEND"] == "task_api.backends.procrastinate.ProcrastinateBackend"
    layer = settings["CHANNEL_LAYERS"]["default"]  # type: ignore[index]
    assert layer["BACKEND"] == "task_api.backends.postgres_layer.PostgresChannelLayer"
    source = Path(project_settings.__file__).read_text()
    assert '"task_api.backends.postgres_layer.PostgresChannelLayer"' in source
    assert '"task_api.backends.procrastinate.ProcrastinateBackend"' in source
    hook = settings["PROCRASTINATE_ON_APP_READY"]
    assert hook == "task_api.backends.procrastinate.on_app_ready"
    assert f'PROCRASTINATE_ON_APP_READY = "{hook}"' in source
    # What the layer does with CONFIG (no connection yet).
    from django.db.backends.postgresql.base import DatabaseWrapper

    params = DatabaseWrapper(dict(layer["CONFIG"])).get_connection_params()
    assert params["dbname"] == "app"
    databases = settings["DATABASES"]
    assert databases["channels_postgres"]["NAME"] == "app"  # type: ignore[index]


def test_worker_command_is_a_management_command() -> None:
    block = readme_snippets.blocks()
    command = next(b for b in block if b.where == PAGE and b.text.startswith("python manage.py"))
    assert command.text.split() == ["python", "manage.py", "procrastinate", "worker"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "TASK_API_TEST_STACK": "postgres-only",
        "TASK_API_TEST_DB": "sqlite",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "procrastinate", "worker", "--help"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "--concurrency" in result.stdout.decode()


def test_compose_profile_runs_web_and_worker_without_redis() -> None:
    block = next(
        b
        for b in readme_snippets.blocks()
        if b.where == PAGE and b.text.startswith("docker compose")
    )
    argv = block.text.split()
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    named = [name for name in argv if name in compose["services"]]
    assert named == ["web-pg", "worker-pg"]
    assert argv[argv.index("--profile") + 1] == "postgres-only"
    for name in named:
        service = compose["services"][name]
        assert service["profiles"] == ["postgres-only"]
        assert "REDIS_URL" not in service["environment"]
        assert "redis" not in service.get("depends_on", {})
    assert compose["services"]["worker-pg"]["command"][-2:] == ["procrastinate", "worker"]
