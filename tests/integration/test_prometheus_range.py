"""Range queries and the demo report against a real Prometheus (Debian's package) scraping,
every second, a prometheus_client registry this test serves and changes over time."""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Gauge

from pace import demo_report
from pace.adapters.prometheus_api import PrometheusApi, PrometheusUnavailable, Series
from pace.localstack import processes
from tests.servers.operator import eventually
from tests.servers.serving import running_prometheus

NAN = float("nan")


@dataclass
class Exporter:
    registry: CollectorRegistry
    target: str


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    """A /metrics endpoint on a free port serving a registry of the test's own."""
    registry = CollectorRegistry()
    port = processes.free_port()
    server, thread = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield Exporter(registry, f"127.0.0.1:{port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def prometheus(exporter: Exporter, tmp_path: Path) -> Iterator[PrometheusApi]:
    with contextmanager(running_prometheus)(
        tmp_path / "prom", {"exporter": exporter.target}
    ) as info:
        yield PrometheusApi(info.url)


def scraped(prometheus: PrometheusApi, promql: str, value: float) -> bool:
    """The latest scrape shows ``value`` for ``promql`` (NaN: the sample is NaN)."""
    if math.isnan(value):
        return prometheus.query(f"count({promql} != {promql})") == 1.0
    return prometheus.query(promql) == value


def hold(prometheus: PrometheusApi, promql: str, value: float) -> None:
    eventually(
        lambda: scraped(prometheus, promql, value),
        timeout=30,
        interval=0.2,
        what=f"{promql} == {value} scraped",
    )


def test_query_range_returns_the_values_scraped_over_time(
    exporter: Exporter, prometheus: PrometheusApi
) -> None:
    gauge = Gauge("pace_test_value", "Set by the test.", ["kind"], registry=exporter.registry)
    gauge.labels(kind="b").set(7.0)
    start = time.time()
    for value in [1.0, NAN, 2.0, 3.0]:
        gauge.labels(kind="a").set(value)
        hold(prometheus, 'pace_test_value{kind="a"}', value)

    def three_points_each() -> list[Series]:  # empty (falsy) until then
        found = prometheus.query_range("pace_test_value", start=start, end=time.time(), step=1)
        return found if all(len(s.points) >= 3 for s in found) else []

    series = eventually(three_points_each, timeout=30, what="3 points per series")
    by_kind = {s.labels["kind"]: s for s in series}
    assert set(by_kind) == {"a", "b"}
    assert by_kind["a"].labels == {
        "__name__": "pace_test_value",
        "kind": "a",
        "job": "exporter",
        "instance": exporter.target,
    }
    a = by_kind["a"].points
    assert {1.0, 2.0, 3.0} <= {v for _, v in a}
    assert all(math.isfinite(v) for _, v in a)  # the NaN scrapes are dropped
    assert a[-1][1] == 3.0
    assert {v for _, v in by_kind["b"].points} == {7.0}
    times = [t for t, _ in a]
    assert times == sorted(times)
    assert start <= times[0]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 1 and gap == pytest.approx(round(gap), abs=1e-3) for gap in gaps)  # 1 s grid


def test_query_range_names_what_prometheus_refused(prometheus: PrometheusApi) -> None:
    now = time.time()
    with pytest.raises(PrometheusUnavailable, match=r"range query refused: .*parse error"):
        prometheus.query_range("sum(", start=now - 10, end=now, step=1)
    with pytest.raises(PrometheusUnavailable, match="maximum resolution"):
        prometheus.query_range("up", start=now - 86_400, end=now, step=1)
    assert prometheus.query_range("pace_nothing_here", start=now - 10, end=now, step=1) == []


def test_query_range_on_a_closed_port_names_the_url() -> None:
    url = f"http://127.0.0.1:{processes.free_port()}"
    with pytest.raises(PrometheusUnavailable, match=re.escape(url)):
        PrometheusApi(url, timeout=2).query_range("up", start=0, end=10, step=1)


@dataclass
class OperatorGauges:
    """Gauges named and labelled like pace.adapters.metrics's, in the test's registry."""

    drift: Gauge
    weight: Gauge
    metric: Gauge
    serving: Gauge
    live: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> OperatorGauges:
        def gauge(name: str, labels: list[str]) -> Gauge:
            return Gauge(name, name, labels, registry=registry)

        return cls(
            drift=gauge("pace_drift_p_value", ["namespace", "monitor", "feature"]),
            weight=gauge("pace_canary_weight", ["namespace", "model"]),
            metric=gauge("pace_model_metric", ["namespace", "model", "version", "metric"]),
            serving=gauge("pace_serving_version_info", ["namespace", "model", "version"]),
            live=gauge(
                "pace_live_metric", ["namespace", "model", "version", "predictor", "metric"]
            ),
        )


def play_a_rollout(g: OperatorGauges, prometheus: PrometheusApi) -> None:
    """v1 serves and drifts, v2 is registered and takes traffic 0 -> 50 -> 100 %. Another
    monitor and another model export too; the report must leave them out."""
    g.drift.labels("demo", "wine-drift", "f1").set(0.8)
    g.drift.labels("demo", "wine-drift", "f2").set(0.6)
    g.drift.labels("demo", "other-drift", "f3").set(0.1)
    g.weight.labels("demo", "other").set(50)
    g.metric.labels("demo", "wine", "v1", "accuracy").set(0.90)
    g.metric.labels("demo", "wine", "v1", "f1").set(0.85)
    g.serving.labels("demo", "wine", "v1").set(1)
    g.live.labels("demo", "wine", "v1", "main", "accuracy").set(0.97)
    g.live.labels("demo", "wine", "v1", "main", "f1_macro").set(0.96)
    g.weight.labels("demo", "wine").set(0)
    hold(prometheus, 'pace_canary_weight{model="wine"}', 0)
    g.drift.labels("demo", "wine-drift", "f1").set(0.001)
    g.metric.labels("demo", "wine", "v2", "accuracy").set(0.95)
    g.metric.labels("demo", "wine", "v2", "f1").set(0.92)
    g.weight.labels("demo", "wine").set(50)
    g.live.labels("demo", "wine", "v1", "main", "accuracy").set(0.91)
    g.live.labels("demo", "wine", "v2", "canary", "accuracy").set(0.99)
    hold(prometheus, 'pace_canary_weight{model="wine"}', 50)
    g.serving.labels("demo", "wine", "v1").set(0)
    g.serving.labels("demo", "wine", "v2").set(1)
    g.weight.labels("demo", "wine").set(100)
    hold(prometheus, 'pace_canary_weight{model="wine"}', 100)
    g.live.remove("demo", "wine", "v2", "canary", "accuracy")
    g.live.labels("demo", "wine", "v2", "main", "accuracy").set(0.99)
    hold(prometheus, 'pace_serving_version_info{version="v2"}', 1)
    hold(prometheus, 'pace_live_metric{version="v2",predictor="main"}', 0.99)


def test_demo_report_charts_what_prometheus_recorded(
    exporter: Exporter, prometheus: PrometheusApi, tmp_path: Path
) -> None:
    start = time.time()
    play_a_rollout(OperatorGauges.register(exporter.registry), prometheus)
    out = tmp_path / "report"
    written = demo_report.charts(
        prometheus,
        namespace="demo",
        model="wine",
        monitor="wine-drift",
        start=start,
        end=time.time(),
        out_dir=out,
        threshold=0.05,
    )
    assert {name: chart.path for name, chart in written.items()} == {
        "drift_p_values": out / "drift-p-values.png",
        "canary_weight": out / "canary-weight.png",
        "version_metrics": out / "version-metrics.png",
        "serving_version": out / "serving-version.png",
        "live_accuracy": out / "live-accuracy.png",
    }
    for chart in written.values():
        data = chart.path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 10_000
    summary = {name: (chart.series, chart.legend) for name, chart in written.items()}
    assert summary == {
        "drift_p_values": (2, ("f1", "f2")),
        "canary_weight": (1, ("wine",)),
        "version_metrics": (4, ("v1", "v2")),
        "serving_version": (2, ("v1", "v2")),
        "live_accuracy": (2, ("v1", "v2")),  # one line per version, whichever predictor
    }
    table = demo_report.charts_table(written).splitlines()
    assert table[0].split() == ["CHART", "SERIES", "LEGEND", "FILE"]
    assert table[1].split()[:4] == ["drift_p_values", "2", "f1,", "f2"]


def test_demo_report_with_nothing_recorded_draws_no_data_charts(
    prometheus: PrometheusApi, tmp_path: Path
) -> None:
    now = time.time()
    written = demo_report.charts(
        prometheus,
        namespace="demo",
        model="wine",
        monitor="wine-drift",
        start=now - 60,
        end=now,
        out_dir=tmp_path,
    )
    assert len(written) == 5
    assert all(c.series == 0 and c.legend == () and c.path.is_file() for c in written.values())
