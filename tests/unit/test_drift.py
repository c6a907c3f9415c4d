"""Drift detection on real data with a real covariate shift (wine and breast_cancer split by a
feature), and the false-alarm rate on unshifted hold-out windows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pace.api.drift_monitor import DetectorSpec
from pace.core import datasets, drift


def split_by(name: str, feature: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = datasets.load_builtin(name).drop(columns=["target"])
    cut = frame[feature].median()
    return (
        frame[frame[feature] <= cut].reset_index(drop=True),
        frame[frame[feature] > cut].reset_index(drop=True),
    )


@pytest.mark.parametrize("detector", ["tabular", "ks", "cvm", "classifier"])
def test_shift_by_a_feature_is_detected(detector: str) -> None:
    low, high = split_by("breast_cancer", "mean_radius")
    report = drift.detect(low, high, DetectorSpec(type=detector, p_value=0.05))
    assert report.drift
    assert report.rows == len(high)
    if detector != "classifier":
        assert report.top(1)[0].p_value < report.threshold
        by_name = {f.name: f for f in report.features}
        assert by_name["mean_radius"].p_value < report.threshold
        assert report.share_drifted > 0.3


def test_unshifted_holdout_rarely_alarms() -> None:
    """False-alarm rate at p=0.05 over 20 random half/half windows of the same population."""
    frame = datasets.load_builtin("breast_cancer").drop(columns=["target"])
    alarms = 0
    for seed in range(20):
        shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        ref, window = shuffled.iloc[:280], shuffled.iloc[280:]
        alarms += drift.detect(ref, window, DetectorSpec(type="tabular", p_value=0.05)).drift
    rate = alarms / 20
    print(f"false-alarm rate tabular p=0.05 over 20 windows: {rate:.2f}")
    assert rate <= 0.15


def test_categorical_features_use_chi_square() -> None:
    ref = pd.DataFrame({"x": [0.1 * i for i in range(200)], "c": ["a", "b"] * 100})
    win = pd.DataFrame({"x": [0.1 * i for i in range(200)], "c": ["a"] * 180 + ["b"] * 20})
    report = drift.detect(ref, win, DetectorSpec(type="tabular", p_value=0.05), categorical=["c"])
    by_name = {f.name: f for f in report.features}
    assert by_name["c"].p_value < 0.001
    assert by_name["x"].p_value > 0.5


def test_mmd_without_torch_says_so() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(drift.DetectorUnavailable, match="PyTorch"):
        drift.detect(ref, ref, DetectorSpec(type="mmd"))


def test_missing_feature_is_named() -> None:
    with pytest.raises(ValueError, match="'y'"):
        drift.detect(
            pd.DataFrame({"x": [1.0], "y": [2.0]}), pd.DataFrame({"x": [1.0]}), DetectorSpec()
        )


def test_unnamed_inputs_are_positional() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    _, window = drift.align(ref, pd.DataFrame({"f0": [1.0], "f1": [3.0]}))
    assert list(window.columns) == ["x", "y"]


def test_reference_follows_the_serving_version() -> None:
    assert (
        drift.reference_location(uri=None, namespace="n", model="m", serving_version=None) is None
    )
    v1 = drift.reference_location(uri=None, namespace="n", model="m", serving_version="v1")
    v2 = drift.reference_location(uri=None, namespace="n", model="m", serving_version="v2")
    # With the model's uid (as the operator calls it): under the model object's own prefix.
    owned = drift.reference_location(
        uri=None, namespace="n", model="m", serving_version="v2", model_uid="0123456789ab"
    )
    assert owned is not None
    assert owned.key == "models/n/m/01234567/versions/v2/reference.parquet"
    assert v1 is not None
    assert v2 is not None
    assert v1.key == "models/n/m/versions/v1/reference.parquet"
    assert v2.key == "models/n/m/versions/v2/reference.parquet"
    assert v2.meta_key == "models/n/m/versions/v2/reference.json"
    assert v2.version == "v2"
    pinned = drift.reference_location(
        uri="s3://b/r.parquet", namespace="n", model="m", serving_version="v2"
    )
    assert pinned is not None
    assert pinned.uri == "s3://b/r.parquet"
    assert pinned.version is None


def test_model_condition_mirrors_its_monitors() -> None:
    from datetime import UTC, datetime

    from pace.api.conditions import Condition
    from pace.core.drift import model_condition

    now = datetime(2026, 6, 1, tzinfo=UTC)

    def verdict(state: str) -> Condition:
        return Condition(
            type="DriftDetected",
            status=state,  # type: ignore[arg-type]
            reason="x",
            message="m",
            last_transition_time=now,
        )

    assert model_condition([], generation=1, now=now) is None
    # The last monitor went away: its verdict does not stand.
    drifted = model_condition([("a", verdict("True"))], generation=1, now=now)
    gone = model_condition([], generation=1, now=now, shown=drifted)
    assert gone is not None
    assert (gone.status, gone.reason) == ("Unknown", "NotMonitored")
    waiting = model_condition([("a", None)], generation=1, now=now)
    assert waiting is not None
    assert (waiting.status, waiting.reason) == ("Unknown", "NotChecked")
    quiet = model_condition([("a", verdict("False"))], generation=1, now=now)
    assert quiet is not None
    assert (quiet.status, quiet.message) == ("False", "No drift reported by DriftMonitor a.")
    mixed = model_condition(
        [("b", verdict("True")), ("a", verdict("False")), ("c", verdict("Unknown"))],
        generation=3,
        now=now,
    )
    assert mixed is not None
    assert (mixed.status, mixed.reason, mixed.observed_generation) == ("True", "Drift", 3)
    assert mixed.message == "Drift reported by DriftMonitor b (kubectl describe driftmonitor b)."
    partial = model_condition(
        [("a", verdict("False")), ("c", verdict("Unknown"))], generation=1, now=now
    )
    assert partial is not None
    assert partial.status == "Unknown"


def _frames(*, shift_b: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a window of three features, the window's `a` partly missing: KSDrift
    answers NaN for both the p-value and the distance of a feature with any NaN in it."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.normal(size=300)}
    )
    a = rng.normal(size=200)
    a[:20] = np.nan
    window = pd.DataFrame({"a": a, "b": rng.normal(size=200) + shift_b, "c": rng.normal(size=200)})
    return reference, window


@pytest.mark.parametrize("detector", ["ks", "tabular", "cvm"])
def test_a_feature_without_a_finite_statistic_is_named_not_patched(detector: str) -> None:
    reference, window = _frames()
    report = drift.detect(reference, window, DetectorSpec(type=detector))
    assert report.untested == ["a"]
    assert sorted(f.name for f in report.features) == ["b", "c"]
    assert all(math.isfinite(f.p_value) and math.isfinite(f.distance) for f in report.features)
    result = drift.verdict(report, reference_version="v1")
    assert (result.status, result.reason) == ("Unknown", "DetectorError")
    assert result.message == (
        "Drift unknown: no finite p-value for feature(s) a (values missing or infinite in the "
        "window or the reference); the other 2 feature(s) show no drift."
    )
    json.dumps(result.fields, allow_nan=False)  # the status patch is valid JSON
    assert {f["name"] for f in result.fields["topFeatures"]} == {"b", "c"}
    assert "driftDetected" not in result.fields  # no verdict it cannot know


def test_chi_square_names_a_feature_with_missing_values_instead_of_raising() -> None:
    """Chi-square used to raise "expected frequencies has a zero element at (0, 3)" on a NaN
    (a category of its own), naming no feature."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.integers(0, 3, 300), "b": rng.integers(0, 3, 300)})
    window = reference.iloc[:200].astype(float).copy()
    window.loc[5, "a"] = np.nan
    report = drift.detect(reference.astype(float), window, DetectorSpec(type="chisquare"))
    assert report.untested == ["a"]
    assert [f.name for f in report.features] == ["b"]
    assert "feature(s) a " in drift.verdict(report, reference_version="v1").message
    window["b"] = np.inf
    report = drift.detect(reference.astype(float), window, DetectorSpec(type="chisquare"))
    assert (report.untested, report.features, report.drift) == (["a", "b"], [], False)


def test_drift_in_the_other_features_stands_beside_an_untested_one() -> None:
    reference, window = _frames(shift_b=2.0)
    report = drift.detect(reference, window, DetectorSpec(type="ks"))
    result = drift.verdict(report, reference_version="v1")
    assert (result.status, result.reason) == ("True", "Drift")
    assert result.message.endswith(
        "; no finite p-value for feature(s) a (values missing or "
        "infinite in the window or the reference)"
    )
    assert result.fields["driftDetected"] is True
    assert result.fields["shareDrifted"] == pytest.approx(1 / 3)  # b of a, b and c
    json.dumps(result.fields, allow_nan=False)


def test_a_multivariate_nan_is_named_too() -> None:
    report = drift._multivariate(
        {"p_val": float("nan"), "distance": float("nan"), "is_drift": 0}, rows=50, p_value=0.05
    )
    assert (report.features, report.untested, report.drift) == ([], ["all"], False)
    result = drift.verdict(report, reference_version=None)
    assert (result.status, result.reason) == ("Unknown", "DetectorError")
    assert "no finite p-value over all features" in result.message
    json.dumps(result.fields, allow_nan=False)


def test_gauges_export_finite_numbers_and_drop_an_untested_feature() -> None:
    from pace.adapters import metrics
    from pace.api.drift_monitor import DriftMonitor
    from pace.handlers import drift_check

    monitor = DriftMonitor.from_body(
        {"metadata": {"name": "gauges", "namespace": "ns"}, "spec": {"modelRef": {"name": "m"}}}
    )

    def p_value(feature: str) -> float | None:
        labels = {"namespace": "ns", "monitor": "gauges", "feature": feature}
        return metrics.REGISTRY.get_sample_value("pace_drift_p_value", labels)

    reference, window = _frames()
    clean = drift.detect(reference, window.fillna(0.0), DetectorSpec(type="ks"))
    drift_check.export(monitor, clean, judged=True)
    assert p_value("a") is not None  # a tested before
    report = drift.detect(reference, window, DetectorSpec(type="ks"))
    drift_check.export(monitor, report, judged=False)
    assert p_value("a") is None  # no NaN exported, and no stale answer either
    assert all(math.isfinite(p_value(name) or math.nan) for name in ("b", "c"))


def test_a_small_window_names_the_fields_that_decide_it() -> None:
    text = drift.not_enough_rows(40, min_rows=100, window_rows=None, window_duration="1h")
    assert text.startswith("40 rows in the window, the last 1h (spec.source.window.duration);")
    assert "at least 100 are needed (spec.source.minRows)" in text
    text = drift.not_enough_rows(40, min_rows=100, window_rows=500, window_duration=None)
    assert "the last 500 rows asked for (spec.source.window.rows)" in text
