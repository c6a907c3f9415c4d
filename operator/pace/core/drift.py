"""Drift detection of a window of live inputs against a reference, with alibi-detect (CPU, no
I/O). Called by the DriftMonitor handler in a worker thread.

`tabular` tests each numeric feature with Kolmogorov-Smirnov and each categorical feature with
chi-square; `ks`, `chisquare` and `cvm` apply one test to every feature; `classifier` trains a
scikit-learn classifier to tell reference from window; `mmd` needs PyTorch.

A feature with missing (NaN) values makes Kolmogorov-Smirnov answer NaN for its p-value and
distance, and NaN is never below a threshold, so it would pass as "no drift" and then break
the JSON of the status patch. `detect` keeps such features apart (``DriftReport.untested``),
and `verdict` names them: drift found in the other features still stands; otherwise the
check says Unknown with reason DetectorError instead of a NoDrift it cannot know.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pace.api.conditions import Condition, ConditionType, Status
from pace.api.drift_monitor import DetectorSpec
from pace.core import naming, status

if TYPE_CHECKING:
    import pandas as pd

TOP_FEATURES = 10
ALL = "all"  # the one "feature" of detectors that test all features at once


class DetectorUnavailable(RuntimeError):
    """The detector needs something this environment lacks; the message says what."""


@dataclass(frozen=True)
class FeatureResult:
    name: str
    p_value: float
    distance: float


@dataclass
class DriftReport:
    """The verdict of one check. ``features`` holds finite numbers only; ``untested`` names
    the features whose p-value or distance came out NaN or infinite."""

    drift: bool
    share_drifted: float
    rows: int
    threshold: float
    features: list[FeatureResult] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)

    def top(self, n: int = TOP_FEATURES) -> list[FeatureResult]:
        return sorted(self.features, key=lambda f: (f.p_value, -f.distance))[:n]


def finite_features(
    results: Iterable[tuple[str, float, float]],
) -> tuple[list[FeatureResult], list[str]]:
    """(name, p-value, distance) triples split into results with finite numbers (rounded)
    and the names of the features whose p-value or distance is NaN or infinite."""
    tested, untested = [], []
    for name, p, d in results:
        if math.isfinite(p) and math.isfinite(d):
            tested.append(FeatureResult(name, round(p, 12), round(d, 12)))
        else:
            untested.append(name)
    return tested, untested


@dataclass(frozen=True)
class ReferenceLocation:
    """Where a monitor's reference is: an explicit s3:// URI, or a version's artifacts."""

    uri: str | None
    key: str
    meta_key: str | None
    version: str | None


def reference_location(
    *,
    uri: str | None,
    namespace: str,
    model: str,
    serving_version: str | None,
    model_uid: str = "",
) -> ReferenceLocation | None:
    """spec.reference.uri if set; else the serving version's reference (it follows
    promotions); None when nothing serves yet."""
    if uri:
        return ReferenceLocation(uri=uri, key="", meta_key=None, version=None)
    if serving_version is None:
        return None
    return ReferenceLocation(
        uri=None,
        key=naming.artifact_key(
            namespace=namespace,
            model=model,
            version=serving_version,
            artifact="reference",
            uid=model_uid,
        ),
        meta_key=naming.artifact_key(
            namespace=namespace,
            model=model,
            version=serving_version,
            artifact="reference_meta",
            uid=model_uid,
        ),
        version=serving_version,
    )


def align(reference: pd.DataFrame, window: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and window restricted to the reference's features, in its column order.

    Unnamed inputs (logged as f0, f1, ...) are taken positionally, in the training order,
    which is what a model served without feature names receives.
    """
    positional = [f"f{i}" for i in range(len(reference.columns))]
    if list(window.columns) == positional:
        window = window.set_axis(list(reference.columns), axis=1)
    missing = [c for c in reference.columns if c not in window.columns]
    if missing:
        raise ValueError(f"live data lacks feature(s) {missing[:10]} of the reference")
    return reference, window[list(reference.columns)]


def _encode(
    reference: pd.DataFrame, window: pd.DataFrame, categorical: list[str]
) -> tuple[Any, Any, dict[int, None]]:
    """Float arrays; categorical columns as integer codes over the union of categories."""
    import numpy as np
    import pandas as pd

    ref, win = reference.copy(), window.copy()
    cats: dict[int, None] = {}
    for i, name in enumerate(ref.columns):
        if name in categorical:
            levels = pd.Index(sorted(set(ref[name].astype(str)) | set(win[name].astype(str))))
            ref[name] = levels.get_indexer(ref[name].astype(str))
            win[name] = levels.get_indexer(win[name].astype(str))
            cats[i] = None
    return (ref.to_numpy(dtype=np.float32), win.to_numpy(dtype=np.float32), cats)


def _multivariate(data: dict[str, Any], *, rows: int, p_value: float) -> DriftReport:
    """A report for detectors that test all features at once (one p-value)."""
    p, distance = float(data["p_val"]), float(data["distance"])
    finite = math.isfinite(p) and math.isfinite(distance)
    return DriftReport(
        drift=bool(data["is_drift"]) and finite,
        share_drifted=float(finite and p < p_value),
        rows=rows,
        threshold=p_value,
        features=[FeatureResult(ALL, p, distance)] if finite else [],
        untested=[] if finite else [ALL],
    )


def detect(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    spec: DetectorSpec,
    *,
    categorical: list[str] | None = None,
) -> DriftReport:
    """Run the configured detector; p-values are the detector's own (corrected per spec)."""
    import numpy as np

    reference, window = align(reference, window)
    names = [str(c) for c in reference.columns]
    x_ref, x, cats = _encode(reference, window, list(categorical or []))
    kind = spec.type
    if kind == "mmd":
        try:
            import torch  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise DetectorUnavailable(
                "detector mmd needs PyTorch, which is not installed; "
                "use ks, chisquare, tabular, cvm or classifier"
            ) from None
        from alibi_detect.cd import MMDDrift

        detector = MMDDrift(x_ref, backend="pytorch", p_val=spec.p_value)
        return _multivariate(detector.predict(x)["data"], rows=len(x), p_value=spec.p_value)
    from alibi_detect import cd as detectors

    if kind == "classifier":
        from sklearn.ensemble import RandomForestClassifier

        detector = detectors.ClassifierDrift(
            x_ref,
            model=RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1),
            backend="sklearn",
            p_val=spec.p_value,
            n_folds=5,
            binarize_preds=False,
        )
        return _multivariate(detector.predict(x)["data"], rows=len(x), p_value=spec.p_value)
    # A feature with NaN or inf in either sample cannot be tested (KS answers NaN, chi-square
    # raises on the empty category): leave it out and name it, test the others.
    finite = np.isfinite(x_ref).all(axis=0) & np.isfinite(x).all(axis=0)
    skipped = [n for n, ok in zip(names, finite, strict=True) if not ok]
    if skipped:
        if not finite.any():
            return DriftReport(
                drift=False,
                share_drifted=0.0,
                rows=len(x),
                threshold=spec.p_value,
                features=[],
                untested=skipped,
            )
        keep = [i for i, ok in enumerate(finite) if ok]
        cats = {keep.index(i): None for i in cats if i in keep}
        names = [names[i] for i in keep]
        x_ref, x = x_ref[:, keep], x[:, keep]
    if kind == "tabular":
        detector = detectors.TabularDrift(
            x_ref,
            p_val=spec.p_value,
            categories_per_feature=cats or None,
            correction=spec.correction,
        )
    elif kind == "chisquare":
        detector = detectors.ChiSquareDrift(x_ref, p_val=spec.p_value, correction=spec.correction)
    elif kind == "cvm":
        detector = detectors.CVMDrift(x_ref, p_val=spec.p_value, correction=spec.correction)
    else:
        detector = detectors.KSDrift(x_ref, p_val=spec.p_value, correction=spec.correction)
    data = detector.predict(x, drift_type="batch")["data"]
    p_vals = np.atleast_1d(data["p_val"]).astype(float)
    distances = np.atleast_1d(data["distance"]).astype(float)
    threshold = float(data["threshold"])
    features, untested = finite_features(
        (n, float(p), float(d)) for n, p, d in zip(names, p_vals, distances, strict=True)
    )
    drifted = sum(1 for f in features if f.p_value < threshold)
    untested = skipped + untested
    return DriftReport(
        drift=bool(data["is_drift"]),  # NaN is never below the threshold: untested ≠ drifted
        share_drifted=drifted / (len(names) + len(skipped)),
        rows=len(x),
        threshold=threshold,
        features=features,
        untested=untested,
    )


def not_enough_rows(
    rows: int, *, min_rows: int, window_rows: int | None, window_duration: str | None
) -> str:
    """Why a window was not judged, naming the fields that decide it."""
    if window_duration:
        which = f"the last {window_duration} (spec.source.window.duration)"
    else:
        which = f"the last {window_rows} rows asked for (spec.source.window.rows)"
    return (
        f"{rows} rows in the window, {which}; at least {min_rows} are needed "
        "(spec.source.minRows): wait for more traffic, widen the window or lower minRows."
    )


DETECTOR_ERROR = "DetectorError"
NAMED = 10  # untested features named in a message


@dataclass(frozen=True)
class Verdict:
    """What one check reports: the DriftDetected condition and the status fields (JSON-safe)."""

    status: Status
    reason: str
    message: str
    fields: dict[str, Any]


def untested_message(report: DriftReport) -> str:
    """Names the features the detector gave no finite statistic for."""
    if report.untested == [ALL]:
        which = "over all features"
    else:
        which = "for feature(s) " + ", ".join(report.untested[:NAMED])
        if len(report.untested) > NAMED:
            which += f" and {len(report.untested) - NAMED} more"
    return f"no finite p-value {which} (values missing or infinite in the window or the reference)"


def verdict(report: DriftReport, *, reference_version: str | None) -> Verdict:
    """The condition and status fields of a finished check. Untested features keep a NoDrift
    from being claimed (Unknown, DetectorError, naming them); drift in the others stands."""
    top = report.top()
    fields: dict[str, Any] = {
        "windowRows": report.rows,
        "referenceVersion": reference_version,
        "topFeatures": [{"name": f.name, "pValue": f.p_value, "distance": f.distance} for f in top],
    }
    if report.untested and not report.drift:
        tested = len(report.features)
        rest = f"; the other {tested} feature(s) show no drift" if tested else ""
        message = f"Drift unknown: {untested_message(report)}{rest}."
        return Verdict("Unknown", DETECTOR_ERROR, message, fields)
    fields |= {"driftDetected": report.drift, "shareDrifted": round(report.share_drifted, 6)}
    if report.drift:
        names = ", ".join(f"{f.name} (p={f.p_value:.2g})" for f in top[:3])
        message = (
            f"{report.share_drifted:.0%} of features drifted in {report.rows} rows; top: {names}"
        )
        if report.untested:
            message += f"; {untested_message(report)}"
        return Verdict("True", "Drift", message, fields)
    return Verdict(
        "False", "NoDrift", f"No drift in {report.rows} rows (p >= {report.threshold:.3g}).", fields
    )


def model_condition(
    verdicts: Sequence[tuple[str, Condition | None]],
    *,
    generation: int,
    now: datetime,
    shown: Condition | None = None,
) -> Condition | None:
    """The MLModel's DriftDetected condition from its monitors' verdicts ((name, condition)).

    True when any monitor reports drift (naming them), False when every judged monitor reports
    none, Unknown while none has judged yet. When no monitor watches the model: None if it
    never showed the condition, else Unknown (``NotMonitored``): a verdict of a monitor that
    is gone must not stand (a deleted last monitor would leave the model Degraded forever).
    """
    if not verdicts:
        if shown is None:
            return None
        return status.condition(
            ConditionType.DRIFT_DETECTED,
            "Unknown",
            "NotMonitored",
            "No DriftMonitor watches this model any more.",
            generation=generation,
            now=now,
        )
    drifted = [(n, c) for n, c in verdicts if c is not None and c.status == "True"]
    if drifted:
        names = sorted(n for n, _ in drifted)
        return status.condition(
            ConditionType.DRIFT_DETECTED,
            "True",
            "Drift",
            "Drift reported by "
            + ", ".join(f"DriftMonitor {n}" for n in names)
            + f" (kubectl describe driftmonitor {names[0]}).",
            generation=generation,
            now=now,
        )
    judged = [n for n, c in verdicts if c is not None and c.status == "False"]
    if judged and len(judged) == len(verdicts):
        return status.condition(
            ConditionType.DRIFT_DETECTED,
            "False",
            "NoDrift",
            "No drift reported by " + ", ".join(f"DriftMonitor {n}" for n in sorted(judged)) + ".",
            generation=generation,
            now=now,
        )
    return status.condition(
        ConditionType.DRIFT_DETECTED,
        "Unknown",
        "NotChecked",
        "Waiting for a drift verdict from "
        + ", ".join(f"DriftMonitor {n}" for n, _ in sorted(verdicts, key=lambda v: v[0]))
        + ".",
        generation=generation,
        now=now,
    )
