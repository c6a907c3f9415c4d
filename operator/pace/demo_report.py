"""The demo report: PNG charts and a plain-text summary from the local stack's Prometheus.

``make demo`` ends with it: what the operator exported while the demo ran (drift p-values
per feature, the canary weight, each version's evaluation metrics, the serving version),
read back with range queries over the demo's time window and drawn with
``pace.report_charts``. Nothing is computed that Prometheus did not record.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from pace import report_charts
from pace.adapters.prometheus_api import PrometheusApi, Series
from pace.core import tables

MAX_POINTS = 300


@dataclass(frozen=True)
class Chart:
    """One written chart: its PNG, how many series Prometheus returned for it, and the
    names its legend shows (features, versions, ...), sorted."""

    path: Path
    series: int
    legend: tuple[str, ...]


def charts(
    prometheus: PrometheusApi,
    *,
    namespace: str,
    model: str,
    monitor: str,
    start: float,
    end: float,
    out_dir: Path,
    threshold: float | None = None,
    max_points: int = MAX_POINTS,
) -> dict[str, Chart]:
    """Query the window ``start``..``end`` (unix seconds) and write one PNG per chart into
    ``out_dir``: ``drift_p_values``, ``canary_weight``, ``version_metrics``,
    ``serving_version``, ``live_accuracy`` (each version's accuracy on labelled live
    traffic). ``threshold`` is the drift p-value threshold, drawn dashed.

    The points are ``range_step`` apart and the last one is at ``end``, so the latest scrape
    shows; the first may fall up to one step before ``start``. The x axes count from it.

    Raises ``PrometheusUnavailable`` when Prometheus cannot answer.
    """
    step = range_step(start, end, max_points)
    first = end - math.ceil((end - start) / step) * step

    def fetch(promql: str) -> list[Series]:
        return prometheus.query_range(promql, start=first, end=end, step=step)

    model_labels = {"namespace": namespace, "model": model}
    drift = fetch(selector("pace_drift_p_value", namespace=namespace, monitor=monitor))
    weight = fetch(selector("pace_canary_weight", **model_labels))
    metric = fetch(selector("pace_model_metric", **model_labels))
    serving = fetch(selector("pace_serving_version_info", **model_labels) + " == 1")
    live = fetch(
        "max by (version) (" + selector("pace_live_metric", metric="accuracy", **model_labels) + ")"
    )
    return {
        "drift_p_values": _drift_chart(drift, monitor, threshold, first, out_dir),
        "canary_weight": _weight_chart(weight, model, first, out_dir),
        "version_metrics": _metrics_chart(metric, model, out_dir),
        "serving_version": _serving_chart(serving, model, first, out_dir),
        "live_accuracy": _live_chart(live, model, first, out_dir),
    }


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def charts_table(written: dict[str, Chart]) -> str:
    """The summary of ``charts()``: one line per chart with its series and file."""
    rows = [
        [name, str(chart.series), _cut(", ".join(chart.legend) or "-", 40), str(chart.path)]
        for name, chart in written.items()
    ]
    return tables.format_table(("CHART", "SERIES", "LEGEND", "FILE"), rows)


def range_step(start: float, end: float, max_points: int = MAX_POINTS) -> float:
    """Whole seconds between points so the window has at most ``max_points``; at least 1 s."""
    if end <= start:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    return float(max(1, math.ceil((end - start) / max(1, max_points - 1))))


def selector(metric: str, /, **labels: str) -> str:
    """``metric{k="v",...}`` with the label values escaped as PromQL strings."""
    matchers = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{matchers}}}"


def last_values(series: list[Series], outer: str, inner: str) -> dict[str, dict[str, float]]:
    """The last point of each series keyed by two of its labels: ``{outer: {inner: v}}``."""
    values: dict[str, dict[str, float]] = {}
    for s in series:
        if s.points:
            _, last = s.points[-1]
            values.setdefault(s.labels.get(outer, ""), {})[s.labels.get(inner, "")] = last
    return values


def serving_timeline(series: list[Series], label: str = "version") -> list[Series]:
    """Series of ``info == 1`` per version merged into one series of version numbers
    (``v3`` -> 3); the highest wins where two overlap. Empty when nothing served."""
    numbers = version_numbers([s.labels.get(label, "") for s in series])
    at: dict[float, float] = {}
    for s in series:
        number = numbers[s.labels.get(label, "")]
        for t, _ in s.points:
            at[t] = max(at.get(t, number), number)
    if not at:
        return []
    return [Series(labels={label: "serving"}, points=sorted(at.items()))]


def version_numbers(versions: list[str]) -> dict[str, float]:
    """The trailing number of each version name (``v12`` -> 12); when a name has none, every
    version gets its rank in natural order instead (1, 2, ...)."""
    ordered = sorted(set(versions), key=report_charts.natural_key)
    found = [re.search(r"(\d+)$", version) for version in ordered]
    if all(found):
        return {v: float(m.group(1)) for v, m in zip(ordered, found, strict=True) if m}
    return {version: float(rank) for rank, version in enumerate(ordered, start=1)}


def _drift_chart(
    series: list[Series], monitor: str, threshold: float | None, t0: float, out_dir: Path
) -> Chart:
    path = report_charts.line_chart(
        series,
        title=f"Drift p-value per feature ({monitor})",
        ylabel="p-value",
        label_key="feature",
        path=out_dir / "drift-p-values.png",
        hline=threshold,
        t0=t0,
        log_y=True,
    )
    return _chart(path, series, "feature")


def _weight_chart(series: list[Series], model: str, t0: float, out_dir: Path) -> Chart:
    path = report_charts.line_chart(
        series,
        title=f"Canary traffic weight ({model})",
        ylabel="% of traffic",
        label_key="model",
        path=out_dir / "canary-weight.png",
        step=True,
        t0=t0,
    )
    return _chart(path, series, "model")


def _metrics_chart(series: list[Series], model: str, out_dir: Path) -> Chart:
    path = report_charts.bar_chart(
        last_values(series, "version", "metric"),
        title=f"Evaluation metrics per version ({model})",
        path=out_dir / "version-metrics.png",
    )
    return _chart(path, series, "version")


def _serving_chart(series: list[Series], model: str, t0: float, out_dir: Path) -> Chart:
    path = report_charts.line_chart(
        serving_timeline(series),
        title=f"Version serving most traffic ({model})",
        ylabel="version number",
        label_key="version",
        path=out_dir / "serving-version.png",
        step=True,
        t0=t0,
    )
    return _chart(path, series, "version")


def _live_chart(series: list[Series], model: str, t0: float, out_dir: Path) -> Chart:
    path = report_charts.line_chart(
        series,
        title=f"Live accuracy per version, labelled traffic ({model})",
        ylabel="accuracy",
        label_key="version",
        path=out_dir / "live-accuracy.png",
        t0=t0,
    )
    return _chart(path, series, "version")


def _chart(path: Path, series: list[Series], label: str) -> Chart:
    names = {s.labels.get(label, "") for s in series}
    return Chart(
        path=path, series=len(series), legend=tuple(sorted(names, key=report_charts.natural_key))
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
