"""Percentiles, targets and the table of results."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Sample = dict[str, float]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "median": statistics.median,
    "max": max,
    "min": min,
    "sum": lambda values: float(sum(values)),
}


@dataclass(frozen=True, kw_only=True)
class Target:
    """A goal for one figure: ``ratio <= value``, ``ratio >= value``, ``<=``, ``>=`` or ``==``."""

    op: str
    value: float
    on_ratio: bool = False

    def met(self, figure: float, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else figure
        if subject is None or math.isnan(subject):
            return None
        return {
            "<=": subject <= self.value,
            ">=": subject >= self.value,
            "==": subject == self.value,
        }[self.op]

    def text(self, unit: str) -> str:
        shown = f"{self.value:g}x" if self.on_ratio else format_value(self.value, unit)
        return f"{'ratio ' if self.on_ratio else ''}{self.op} {shown}"


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One row of the table: a figure of the library, optionally against a baseline's."""

    label: str
    key: str
    unit: str
    baseline_key: str | None = None
    baseline_label: str = ""
    target: Target | None = None
    aggregate: str = "median"
    #: A correctness check (not a timing): a miss makes the run fail.
    check: bool = False


@dataclass(frozen=True, kw_only=True)
class Row:
    """A computed row of the table."""

    scenario: str
    metric: Metric
    value: float
    baseline: float | None
    ratio: float | None
    verdict: str


def build_rows(scenario: str, metrics: Iterable[Metric], samples: list[Sample]) -> list[Row]:
    """Aggregate the repeats of a scenario into rows."""
    rows = []
    for metric in metrics:
        value = _aggregate(metric.aggregate, metric.key, samples)
        baseline = (
            _aggregate(metric.aggregate, metric.baseline_key, samples)
            if metric.baseline_key
            else None
        )
        known = baseline is not None and not math.isnan(baseline) and not math.isnan(value)
        ratio = value / baseline if known and baseline else None
        met = metric.target.met(value, ratio) if metric.target else None
        verdict = "" if met is None else "ok" if met else ("FAIL" if metric.check else "miss")
        rows.append(
            Row(
                scenario=scenario,
                metric=metric,
                value=value,
                baseline=baseline,
                ratio=ratio,
                verdict=verdict,
            )
        )
    return rows


def _aggregate(how: str, key: str, samples: list[Sample]) -> float:
    values = [sample[key] for sample in samples if key in sample and not math.isnan(sample[key])]
    return AGGREGATES[how](values) if values else math.nan


def format_value(value: float | None, unit: str) -> str:
    """A figure with its unit, to three significant digits."""
    if value is None or math.isnan(value):
        return "n/a"
    if unit == "":
        return f"{value:,.0f}" if value == int(value) else f"{value:,.3g}"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    header = "| Scenario | Measure | Library | Baseline | Ratio | Target | Verdict |"
    lines = [header, "| --- | --- | ---: | --- | ---: | --- | --- |"]
    last = ""
    for row in rows:
        metric = row.metric
        baseline = (
            f"{format_value(row.baseline, metric.unit)} ({metric.baseline_label})"
            if metric.baseline_key
            else ""
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        target = metric.target.text(metric.unit) if metric.target else ""
        scenario = row.scenario if row.scenario != last else ""
        last = row.scenario
        lines.append(
            f"| {scenario} | {metric.label} | {format_value(row.value, metric.unit)} | {baseline} "
            f"| {ratio} | {target} | {row.verdict} |"
        )
    return "\n".join(lines)
