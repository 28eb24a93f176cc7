"""The pages on metrics and readiness checks (``docs/how-to/metrics.md`` and ``health.md``):
their snippets run, their blocks and tables are what the code does. ``tests/test_readme.py``
lists these checks among those of every code block."""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import resolve

from task_api import metrics
from task_api.conf import TaskAPISettings, task_api_settings
from task_api.health import readiness
from task_api.health.views import health
from task_api.metrics import exposition, families
from task_api.metrics.views import metrics as metrics_view
from tests.readme_snippets import (
    REPO_ROOT,
    Block,
    blocks,
    exec_snippet,
    load_snippet_module,
    table,
)

METRICS = "docs/how-to/metrics.md"
HEALTH = "docs/how-to/health.md"


def block_starting(lang: str, start: str, where: str) -> Block:
    """The one unnamed ``lang`` block of the file ``where`` whose text starts with ``start``."""
    found = [
        b
        for b in blocks(path=REPO_ROOT / where)
        if b.lang == lang and not b.name and b.text.startswith(start)
    ]
    assert len(found) == 1, f"{where}: expected one {lang} block starting {start!r}"
    return found[0]


@pytest.fixture
def fresh_modules() -> Iterator[None]:
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name.split(".")[0] in ("myapp", "myproject"):
                del sys.modules[name]


def _declared() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every metric the code makes: name -> (type, labels)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for value in vars(families).values():
        if hasattr(value, "_type") and hasattr(value, "_labelnames"):
            name = value._name + ("_total" if value._type == "counter" else "")
            found[name] = (value._type, tuple(value._labelnames))
    for name, _ in exposition.GAUGES.values():
        found[name] = ("gauge", ("name",))
    return found


# -- metrics.md --------------------------------------------------------------------------------


def test_metrics_table_is_every_metric_of_the_code() -> None:
    rows = table("metric", "type", "labels", "like celery-exporter's", "meaning", page=METRICS)
    documented = {
        cell.strip("`"): (kind, tuple(re.findall(r"`(\w+)`", labels)))
        for cell, kind, labels, _, _ in rows
    }
    assert documented == _declared()
    for _, _, _, celery, _ in rows:
        assert all(name.startswith("celery_") for name in re.findall(r"`(\w+)`", celery))


def test_promql_names_series_that_exist() -> None:
    block = block_starting("promql", "sum by (name)", METRICS)
    declared = _declared()
    series = set(declared)
    for name, (kind, _) in declared.items():
        if kind == "histogram":
            series |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    used = set(re.findall(r"\btask_api_\w+", block.text))
    assert used
    assert used <= series, used - series
    labels = {label for _, names in declared.values() for label in names} | {"le"}
    assert set(re.findall(r"by \(([\w, ]+)\)", block.text)) <= {"name", "le, name"}
    assert set(re.findall(r"\{(\w+)=", block.text)) <= labels


def test_pip_install_names_the_metrics_extra() -> None:
    block = block_starting("sh", "pip install", METRICS)
    assert block.text.strip() == metrics.EXTRA
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(d.startswith("prometheus-client") for d in extras["metrics"])
    assert any("metrics" in d for d in extras["dev"] if d.startswith("django-task-api["))


@pytest.mark.django_db(transaction=True)
def test_metrics_settings_snippet_opens_the_page_to_the_token(
    monkeypatch: pytest.MonkeyPatch, fresh_modules: None
) -> None:
    monkeypatch.setenv("TASK_API_METRICS_TOKEN", "from-the-environment")
    names = exec_snippet("metrics-settings", {})
    assert names["TASK_API_METRICS"] is True
    urls = load_snippet_module("metrics-urls", "myproject.metrics_urls")
    with override_settings(
        TASK_API_METRICS=names["TASK_API_METRICS"],
        TASK_API_METRICS_TOKEN=names["TASK_API_METRICS_TOKEN"],
        ROOT_URLCONF=urls.__name__,
    ):
        assert task_api_settings.metrics_token == "from-the-environment"
        bearer = {"HTTP_AUTHORIZATION": "Bearer from-the-environment"}
        assert Client().get("/tasks/metrics/", **bearer).status_code == 200
        assert Client().get("/tasks/metrics/").status_code == 401


def test_metrics_urls_snippet_serves_the_page_and_the_api(fresh_modules: None) -> None:
    urls = load_snippet_module("metrics-urls", "myproject.metrics_urls")
    assert resolve("/tasks/metrics/", urls.__name__).func is metrics_view
    assert resolve("/tasks/", urls.__name__).url_name == "task-list"


def test_multiprocess_commands_set_the_variable_prometheus_client_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = block_starting("sh", "export PROMETHEUS_MULTIPROC_DIR", METRICS)
    lines = block.text.splitlines()
    variable, directory = lines[0].removeprefix("export ").split("=")
    assert variable == "PROMETHEUS_MULTIPROC_DIR"
    monkeypatch.setenv(variable, directory)
    assert metrics.multiprocess_dir() == directory
    assert lines[1] == f'rm -rf "${variable}" && mkdir -p "${variable}"'
    # The tutorial's two commands, whose programs the tests run.
    tutorial = block_starting("sh", "daphne ", "docs/tutorial.md").text.splitlines()
    assert lines[2:] == tutorial
    bin_dir = Path(sys.executable).parent
    assert all(os.access(bin_dir / line.split()[0], os.X_OK) for line in lines[2:])


def test_worker_host_command_parses() -> None:
    block = block_starting("sh", "PROMETHEUS_MULTIPROC_DIR=", METRICS)
    from task_api.management.commands.task_api_metrics import Command
    from task_api.metrics.standalone import PATH

    variable, *argv = block.text.split()
    assert variable == "PROMETHEUS_MULTIPROC_DIR=/run/task-api-metrics"
    assert argv[:3] == ["python", "manage.py", "task_api_metrics"]
    options = Command().create_parser("manage.py", "task_api_metrics").parse_args(argv[3:])
    assert (options.bind, options.port) == ("0.0.0.0", 9108)
    assert PATH == "/metrics"


def test_scrape_config_reads_the_page_with_a_bearer_token() -> None:
    config = yaml.safe_load(block_starting("yaml", "scrape_configs:", METRICS).text)
    [job] = config["scrape_configs"]
    assert resolve(job["metrics_path"], "tests.project.urls").func is metrics_view
    # Prometheus's authorization type is Bearer unless told otherwise.
    assert set(job["authorization"]) == {"credentials_file"}
    assert job["static_configs"][0]["targets"]


# -- health.md ---------------------------------------------------------------------------------

FIELDS = ["database", "broker", "channel_layer", "workers"]


def test_checks_table_is_the_report() -> None:
    rows = table("check", "how", "fails when", page=HEALTH)
    assert [cell.strip("`") for cell, _, _ in rows] == FIELDS
    assert [field.name for field in readiness.Report.__dataclass_fields__.values()] == FIELDS


def test_health_urls_snippet_serves_the_check(fresh_modules: None) -> None:
    urls = load_snippet_module("health-urls", "myproject.health_urls")
    assert resolve("/tasks/health/", urls.__name__).func is health
    assert resolve("/tasks/", urls.__name__).url_name == "task-list"


def test_health_answers_are_reports() -> None:
    ready = json.loads(block_starting("json", '{"database": "ok", "broker": "ok"', HEALTH).text)
    assert list(ready) == FIELDS
    assert readiness.Report(**ready).ok
    failing = block_starting("json", '{"database": "ok", "broker": "failed"', HEALTH)
    failed = json.loads(failing.text)
    report = readiness.Report(**{**failed, "broker": "Error 111", "channel_layer": "Error 111"})
    assert report.as_json(details=False) == failed
    assert not report.ok


def test_readiness_probe_waits_long_enough() -> None:
    probe = yaml.safe_load(block_starting("yaml", "readinessProbe:", HEALTH).text)
    get = probe["readinessProbe"]["httpGet"]
    assert resolve(get["path"], "tests.project.urls").func is health
    # The database, the layer and the broker at once, then a second of the workers' replies.
    default = TaskAPISettings.health_timeout.default
    assert probe["readinessProbe"]["timeoutSeconds"] > 2 * default + 0.5


def test_command_lines_parse() -> None:
    block = block_starting("sh", "python manage.py task_api_health", HEALTH)
    from task_api.management.commands.task_api_health import Command

    for line in block.text.splitlines():
        argv = line.split()
        assert argv[:3] == ["python", "manage.py", "task_api_health"]
        Command().create_parser("manage.py", "task_api_health").parse_args(argv[3:])


@pytest.mark.django_db(transaction=True)
def test_command_output_is_what_it_prints(settings: Any) -> None:
    block = block_starting("text", "database: ok", HEALTH)
    *lines, last = block.text.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == FIELDS
    settings.TASK_API_BACKEND = "tests.test_health.BrokenBroker"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_operations_docs.RefusedLayer"}}
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("task_api_health", stdout=out)
    assert f"CommandError: {raised.value}" == last
    assert raised.value.returncode == 1
    printed = out.getvalue().splitlines()
    assert [line.split(": ", 1)[0] for line in printed] == FIELDS
    assert printed[0] == lines[0]
    assert printed[-1] == lines[-1]
    error = re.compile(r"^(broker|channel_layer): \w+Error: .+$")
    assert all(error.match(line) for line in [*printed[1:3], *lines[1:3]]), printed


class RefusedLayer:
    """A channel layer whose server refuses connections."""

    def __init__(self, **config: Any) -> None:
        pass

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connect call failed.")


SNIPPET_CHECKS: dict[str, list[Callable[..., Any]]] = {
    "metrics-settings": [test_metrics_settings_snippet_opens_the_page_to_the_token],
    "metrics-urls": [
        test_metrics_urls_snippet_serves_the_page_and_the_api,
        test_metrics_settings_snippet_opens_the_page_to_the_token,
    ],
    "health-urls": [test_health_urls_snippet_serves_the_check],
}
BLOCK_CHECKS: dict[tuple[str, str, str], Callable[..., Any]] = {
    (METRICS, "sh", "pip install"): test_pip_install_names_the_metrics_extra,
    (METRICS, "sh", "export PROMETHEUS_MULTIPROC_DIR"): (
        test_multiprocess_commands_set_the_variable_prometheus_client_reads
    ),
    (METRICS, "sh", "PROMETHEUS_MULTIPROC_DIR="): test_worker_host_command_parses,
    (METRICS, "yaml", "scrape_configs:"): test_scrape_config_reads_the_page_with_a_bearer_token,
    (METRICS, "promql", "sum by (name)"): test_promql_names_series_that_exist,
    (HEALTH, "json", '{"database": "ok", "broker": "ok"'): test_health_answers_are_reports,
    (HEALTH, "json", '{"database": "ok", "broker": "failed"'): test_health_answers_are_reports,
    (HEALTH, "yaml", "readinessProbe:"): test_readiness_probe_waits_long_enough,
    (HEALTH, "sh", "python manage.py task_api_health"): test_command_lines_parse,
    (HEALTH, "text", "database: ok"): test_command_output_is_what_it_prints,
}
