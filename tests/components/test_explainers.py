"""Every explainer through the explain-model step: permutation importance, kernel SHAP and
anchors on a dataset with a known dominant feature (the label is the sign of ``signal``; the
other features are noise). Each writes its JSON and PNG, names every feature, and ranks
``signal`` first. The time each takes is in tests/bench (test_pipeline_bench)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from kfp import dsl
from sklearn.ensemble import RandomForestClassifier

import pace_components
from tests.components.test_steps import artifact

FEATURES = ["noise_a", "signal", "noise_b", "noise_c"]


def dominant_feature_data(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURES})
    frame["target"] = (frame["signal"] > 0).astype(int)
    return frame


def fitted_frames(d: Path, data: str = "dominant") -> dict[str, Any]:
    """A random forest fitted on ``data`` (dominant: `dominant_feature_data`; wine: sklearn's
    wine), its train/test splits and model as the step's input artifacts."""
    from sklearn.datasets import load_wine

    d.mkdir(parents=True, exist_ok=True)
    if data == "wine":
        frame = load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0)
    else:
        frame = dominant_feature_data()
    features = [c for c in frame.columns if c != "target"]
    cut = int(len(frame) * 0.75)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(
        train[features], train["target"]
    )
    joblib.dump(model, d / "model.joblib")
    train.to_parquet(d / "train.parquet")
    test.to_parquet(d / "test.parquet")
    return {
        "dir": d,
        "model": artifact(dsl.Model, d / "model.joblib"),
        "train": artifact(dsl.Dataset, d / "train.parquet"),
        "test": artifact(dsl.Dataset, d / "test.parquet"),
    }


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return fitted_frames(tmp_path_factory.mktemp("explain"))


def explain(fitted: dict[str, Any], method: str, samples: int = 20) -> tuple[dict[str, Any], bytes]:
    """Run the step as a pipeline runs it; its JSON and PNG."""
    d: Path = fitted["dir"]
    out, png = (
        artifact(dsl.Artifact, d / f"{method}.json"),
        artifact(dsl.Artifact, d / f"{method}.png"),
    )
    pace_components.explain_model.python_func(
        model=fitted["model"],
        train_set=fitted["train"],
        test_set=fitted["test"],
        target="target",
        method=method,
        samples=samples,
        seed=1,
        explanation=out,
        plot=png,
    )
    return json.loads(Path(out.path).read_text()), Path(png.path).read_bytes()


@pytest.mark.parametrize("method", ["permutation", "kernel_shap", "anchors"])
def test_each_explainer_finds_the_dominant_feature(fitted: dict[str, Any], method: str) -> None:
    explanation, png = explain(fitted, method)
    assert explanation["method"] == method
    importances = explanation["importances"]
    assert set(importances) == set(FEATURES)
    assert all(np.isfinite(v) for v in importances.values())
    ranked = sorted(importances, key=lambda name: -abs(importances[name]))
    assert ranked[0] == "signal", importances
    # Clearly first, not by a hair: at least twice the strongest noise feature.
    assert abs(importances["signal"]) >= 2 * max(abs(importances[n]) for n in ranked[1:])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 2000  # a drawn chart, not an empty image
