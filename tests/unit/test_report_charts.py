"""The demo report's pure parts: PNG charts from series, the text table, the PromQL and
step helpers. No Prometheus here (tests/integration/test_prometheus_range.py has one)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pace import demo_report, report_charts
from pace.adapters.prometheus_api import Series

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk of a PNG (asserts the signature first)."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), data[:16]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def feature(name: str, values: list[float], t0: float = 1000.0) -> Series:
    return Series(labels={"feature": name}, points=[(t0 + i, v) for i, v in enumerate(values)])


def test_line_chart_writes_a_png_and_each_series_changes_the_picture(tmp_path: Path) -> None:
    one = [feature("f1", [0.9, 0.5, 0.01])]
    two = [*one, feature("f2", [0.8, 0.7, 0.6])]

    def draw(series: list[Series], name: str) -> Path:
        return report_charts.line_chart(
            series,
            title="p",
            ylabel="p-value",
            label_key="feature",
            path=tmp_path / name,
            hline=0.05,
        )

    a = draw(one, "one.png")
    b = draw(two, "two.png")
    assert a == tmp_path / "one.png"
    assert png_size(a) == png_size(b) == (900, 450)
    assert a.stat().st_size > 10_000
    assert a.read_bytes() != b.read_bytes()


def test_line_chart_is_deterministic_and_options_matter(tmp_path: Path) -> None:
    series = [feature("f1", [0.0, 25.0, 50.0, 100.0])]

    def draw(name: str, *, step: bool = False, log_y: bool = False) -> bytes:
        path = tmp_path / name
        report_charts.line_chart(
            series, title="w", ylabel="%", label_key="feature", path=path, step=step, log_y=log_y
        )
        return path.read_bytes()

    plain = draw("a.png")
    assert draw("b.png") == plain  # same input, same bytes
    assert draw("step.png", step=True) != plain
    assert draw("log.png", log_y=True) != plain


def test_line_chart_label_key_may_be_a_function(tmp_path: Path) -> None:
    seen: list[Series] = []

    def label(s: Series) -> str:
        seen.append(s)
        return f"feature {s.labels['feature']}"

    series = [feature("f1", [1.0, 2.0]), feature("f2", [3.0, 4.0])]
    report_charts.line_chart(
        series, title="t", ylabel="y", label_key=label, path=tmp_path / "x.png"
    )
    assert seen == series


def test_empty_input_writes_a_no_data_chart(tmp_path: Path) -> None:
    empty = report_charts.line_chart(
        [], title="t", ylabel="y", label_key="feature", path=tmp_path / "sub" / "empty.png"
    )
    no_points = report_charts.line_chart(
        [Series(labels={"feature": "f1"}, points=[])],
        title="t",
        ylabel="y",
        label_key="feature",
        path=tmp_path / "no-points.png",
    )
    bars = report_charts.bar_chart({}, title="t", path=tmp_path / "bars.png")
    assert png_size(empty) == png_size(bars) == (900, 450)
    assert empty.read_bytes() == no_points.read_bytes()  # both say "no data", same title
    drawn = report_charts.line_chart(
        [feature("f1", [1.0, 2.0])],
        title="t",
        ylabel="y",
        label_key="feature",
        path=tmp_path / "drawn.png",
    )
    assert drawn.read_bytes() != empty.read_bytes()


def test_bar_chart_groups_versions_and_each_version_changes_the_picture(tmp_path: Path) -> None:
    v1 = {"v1": {"accuracy": 0.91, "f1": 0.88}}
    both = {**v1, "v2": {"accuracy": 0.95, "f1": 0.93}}
    partial = {**v1, "v2": {"accuracy": 0.95}}  # a metric v2 lacks leaves a gap
    a = report_charts.bar_chart(v1, title="m", path=tmp_path / "v1.png")
    b = report_charts.bar_chart(both, title="m", path=tmp_path / "both.png")
    c = report_charts.bar_chart(partial, title="m", path=tmp_path / "partial.png")
    assert png_size(a) == (900, 450)
    assert a.stat().st_size > 10_000
    assert len({a.read_bytes(), b.read_bytes(), c.read_bytes()}) == 3


def test_more_than_eight_series_keeps_the_lowest_minimum() -> None:
    series = [feature(f"f{i}", [1.0, i / 100]) for i in range(12)]
    series.reverse()
    kept = report_charts.lowest_series(series, 8)
    assert [s.labels["feature"] for s in kept] == [f"f{i}" for i in range(7, -1, -1)]
    assert report_charts.lowest_series(series[:3], 8) == series[:3]


def test_more_than_eight_series_says_so_in_the_chart(tmp_path: Path) -> None:
    many = [feature(f"f{i}", [1.0, i / 100]) for i in range(12)]
    capped = report_charts.line_chart(
        many, title="t", ylabel="y", label_key="feature", path=tmp_path / "many.png"
    )
    lowest = report_charts.line_chart(
        many[:8], title="t", ylabel="y", label_key="feature", path=tmp_path / "eight.png"
    )
    assert capped.read_bytes() != lowest.read_bytes()  # same lines, title differs


def test_natural_key_orders_v2_before_v10() -> None:
    assert sorted(["v10", "v2", "v1", "w", "c"], key=report_charts.natural_key) == [
        "c",
        "v1",
        "v2",
        "v10",
        "w",
    ]


def test_range_step_keeps_at_most_max_points() -> None:
    assert demo_report.range_step(0, 60) == 1.0
    assert demo_report.range_step(0, 3600) == 13.0
    assert 3600 / demo_report.range_step(0, 3600) + 1 <= 300
    assert demo_report.range_step(0, 10, max_points=3) == 5.0
    with pytest.raises(ValueError, match="empty window"):
        demo_report.range_step(10, 10)


def test_selector_escapes_label_values() -> None:
    assert demo_report.selector("pace_canary_weight", namespace="ns", model="wine") == (
        'pace_canary_weight{model="wine",namespace="ns"}'
    )
    assert demo_report.selector("m", a='x"y\\z') == 'm{a="x\\"y\\\\z"}'


def test_last_values_and_serving_timeline() -> None:
    metric = [
        Series({"version": "v1", "metric": "accuracy"}, [(1.0, 0.8), (2.0, 0.9)]),
        Series({"version": "v2", "metric": "accuracy"}, [(2.0, 0.95)]),
        Series({"version": "v3", "metric": "accuracy"}, []),
    ]
    assert demo_report.last_values(metric, "version", "metric") == {
        "v1": {"accuracy": 0.9},
        "v2": {"accuracy": 0.95},
    }
    serving = [
        Series({"version": "v1"}, [(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)]),
        Series({"version": "v10"}, [(3.0, 1.0), (4.0, 1.0)]),
    ]
    assert demo_report.serving_timeline(serving) == [
        Series({"version": "serving"}, [(1.0, 1.0), (2.0, 1.0), (3.0, 10.0), (4.0, 10.0)])
    ]
    assert demo_report.serving_timeline([]) == []
    assert demo_report.version_numbers(["v10", "v2", "v2"]) == {"v2": 2.0, "v10": 10.0}
    assert demo_report.version_numbers(["v2", "green", "blue"]) == {
        "blue": 1.0,
        "green": 2.0,
        "v2": 3.0,
    }
