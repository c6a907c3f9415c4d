"""How long a model's inference log is kept and how often it is swept; which partition a
batch is in (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModelSpec
from pace.core import inference_records, log_retention


def _spec(**retention: Any) -> MLModelSpec:
    return MLModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "sklearn://wine", "target": "target"},
            "retention": retention,
        }
    )


def _monitor(window: dict[str, Any], uri: str | None = None) -> DriftMonitor:
    source: dict[str, Any] = {"window": window}
    if uri:
        source["uri"] = uri
    return DriftMonitor.from_body(
        {
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"modelRef": {"name": "m"}, "source": source},
        }
    )


def test_the_default_keeps_a_week() -> None:
    assert log_retention.keep_seconds(_spec(), []) == 7 * 24 * 3600


def test_a_monitor_reading_a_longer_duration_of_the_models_log_raises_what_is_kept() -> None:
    spec = _spec(inferenceLog="1h")
    assert log_retention.keep_seconds(spec, [_monitor({"duration": "30m"})]) == 3600
    assert log_retention.keep_seconds(spec, [_monitor({"duration": "3h"})]) == 3 * 3600
    # Row windows and monitors reading another prefix do not count.
    assert log_retention.keep_seconds(spec, [_monitor({"rows": 500})]) == 3600
    other = _monitor({"duration": "9h"}, uri="s3://logs/elsewhere/")
    assert log_retention.keep_seconds(spec, [other]) == 3600


@pytest.mark.parametrize(
    ("keep", "interval"), [(60, 10), (600, 60), (7 * 24 * 3600, 3600), (1, 10)]
)
def test_sweeps_come_a_tenth_of_the_retention_apart_within_bounds(
    keep: float, interval: float
) -> None:
    assert log_retention.sweep_interval(keep) == interval


def test_partition_folders_and_days() -> None:
    assert inference_records.partition_day("a/m/main/requests/date=2026-03-09/") == "2026-03-09"
    assert inference_records.partition_day("date=2026-03-09/") == "2026-03-09"
    assert inference_records.partition_day("a/m/main/requests/") is None
    assert inference_records.partition_day("a/xdate=2026-03-09/") is None
    assert inference_records.day_of(1773079200000) == "2026-03-09"  # 18:00 UTC
    assert inference_records.may_hold("a/m/main/", "requests")
    assert inference_records.may_hold("a/m/main/requests/", "requests")
    assert not inference_records.may_hold("a/m/main/responses/", "requests")
    assert not inference_records.may_hold("a/m/labels/", "responses")
    assert inference_records.may_hold("a/m/labels/", None)
