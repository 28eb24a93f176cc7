"""``python -m bench --smoke`` runs every scenario against real services and prints the table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import SCENARIOS

REPO_ROOT = Path(__file__).resolve().parent.parent

# The bench makes a database of its own, on the kind the tests use; its load would
# slow the other pass of scripts/test down.
pytestmark = [pytest.mark.services, pytest.mark.alone]


@pytest.mark.timeout(600)
def test_bench_smoke_runs_every_scenario_and_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=REPO_ROOT,
        env={**os.environ, "BENCH_DB": os.environ.get("TASK_API_TEST_DB", "sqlite")},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-6000:]}"
    assert "| Scenario | Measure | Library | Baseline | Ratio | Target | Verdict |" in result.stdout
    for scenario in SCENARIOS:
        assert f"| {scenario.title} |" in result.stdout
