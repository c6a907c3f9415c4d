"""Live quality: the join, the newest label, unmatched/pending labels, and the metrics against
scikit-learn on known inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error

from pace.core import live_quality as lq


def responses(rows: list[tuple[str, int, str, str, list[float]]]) -> pd.DataFrame:
    out = []
    for ident, index, version, predicted, proba in rows:
        row = {"_id": ident, "_index": index, "_ts": 1.0, "_version": version}
        row |= {"_predicted": predicted, "_p:a": proba[0], "_p:b": proba[1]}
        out.append(row)
    return pd.DataFrame(out)


def labels(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"_id": i, "_index": x, "truth": t, "_ts": ts} for i, x, t, ts in rows])


def test_classification_metrics_match_sklearn_per_version() -> None:
    rng = np.random.default_rng(0)
    n = 400
    proba_b = rng.uniform(size=n)
    truth = np.where(rng.uniform(size=n) < proba_b, "b", "a")
    version = np.where(np.arange(n) % 4 == 0, "v2", "v1")
    frame = pd.DataFrame(
        {
            "_id": [f"p{i}" for i in range(n)],
            "_index": 0,
            "_ts": 1.0,
            "_version": version,
            "_predicted": np.where(proba_b > 0.5, "b", "a"),
            "_p:a": 1 - proba_b,
            "_p:b": proba_b,
        }
    )
    got = lq.measure(
        "classification",
        frame,
        labels([(f"p{i}", 0, truth[i], 2.0) for i in range(n)]),
        now=3.0,
    )
    for name in ("v1", "v2"):
        mine = frame[frame["_version"] == name]
        y = truth[frame["_version"] == name]
        quality = got.versions[name]
        assert quality.rows == len(mine)
        assert quality.metrics["accuracy"] == pytest.approx(accuracy_score(y, mine["_predicted"]))
        assert quality.metrics["f1_macro"] == pytest.approx(
            f1_score(y, mine["_predicted"], average="macro")
        )
        expected = log_loss(y, mine[["_p:a", "_p:b"]].to_numpy(), labels=["a", "b"])
        assert quality.metrics["log_loss"] == pytest.approx(expected)
        assert quality.interval is not None
        assert quality.interval.low < quality.metrics["accuracy"] < quality.interval.high
    assert (got.labels, got.duplicates, got.unmatched, got.pending) == (n, 0, 0, 0)


def test_wilson_interval_known_values() -> None:
    low, high = lq.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert lq.wilson(0, 0) == (0.0, 1.0)


def test_the_newest_label_wins_and_loose_labels_are_pending_then_unmatched() -> None:
    frame = responses([("p1", 0, "v1", "a", [0.9, 0.1]), ("p1", 1, "v1", "b", [0.2, 0.8])])
    got = lq.measure(
        "classification",
        frame,
        labels(
            [
                ("p1", 0, "b", 10.0),  # replaced by the later "a"
                ("p1", 0, "a", 20.0),
                ("p1", 1, "b", 15.0),
                ("old", 0, "a", 30.0),  # 100 s before now: unmatched
                ("new", 0, "a", 125.0),  # 5 s before now: its prediction may still come
            ]
        ),
        now=130.0,
    )
    assert got.versions["v1"].rows == 2
    assert got.versions["v1"].metrics["accuracy"] == 1.0
    assert (got.labels, got.duplicates, got.unmatched, got.pending) == (4, 1, 1, 1)


def test_a_label_the_model_has_no_class_for_counts_as_wrong_with_probability_zero() -> None:
    frame = responses([("p1", 0, "v1", "a", [0.9, 0.1])])
    got = lq.measure("classification", frame, labels([("p1", 0, "zzz", 1.0)]), now=1.0)
    assert got.versions["v1"].metrics["accuracy"] == 0.0
    assert got.versions["v1"].metrics["log_loss"] == pytest.approx(-np.log(1e-15))


def test_regression_metrics_match_sklearn() -> None:
    values = [1.0, 2.0, 3.5, 4.0]
    truth = ["1.5", "2", "3", "not a number"]
    frame = pd.DataFrame(
        {
            "_id": ["a", "b", "c", "d"],
            "_index": 0,
            "_ts": 1.0,
            "_version": "v1",
            "_value": values,
        }
    )
    got = lq.measure(
        "regression",
        frame,
        labels([(i, 0, t, 1.0) for i, t in zip("abcd", truth, strict=True)]),
        now=1.0,
    )
    quality = got.versions["v1"]
    expected = mean_absolute_error([1.5, 2.0, 3.0], values[:3])
    assert quality.metrics["mae"] == pytest.approx(expected)
    assert quality.metrics["rmse"] == pytest.approx(np.sqrt(np.mean([0.25, 0.0, 0.25])))
    assert quality.rows == 3  # the label that is no number is left out


def test_no_labels_or_no_responses() -> None:
    empty = pd.DataFrame()
    assert lq.measure("classification", empty, empty, now=0).versions == {}
    got = lq.measure("classification", empty, labels([("p", 0, "a", 0.0)]), now=100.0)
    assert (got.versions, got.unmatched) == ({}, 1)


def test_macro_f1_matches_sklearn_with_classes_on_one_side_only() -> None:
    rng = np.random.default_rng(5)
    truth = pd.Series(rng.choice(["a", "b", "c", "d"], 500))
    predicted = pd.Series(rng.choice(["a", "b", "c", "e"], 500))  # d never predicted, e never true
    assert lq.macro_f1(truth, predicted) == pytest.approx(
        f1_score(truth, predicted, average="macro", zero_division=0)
    )


def test_labelled_rows_of_nothing_still_have_the_columns_the_gate_reads() -> None:
    empty = lq.labelled(pd.DataFrame(), pd.DataFrame())
    assert empty.empty
    assert {"_version", "_predicted", "_value", "truth"} <= set(empty.columns)
