"""`pace get`'s view of a model (pure): what a user sees at a glance."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pace.api.mlmodel import MLModel
from pace.core import model_view

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _iso(seconds_ago: int) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat()


def body(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.pace.dev/v1alpha1",
        "kind": "MLModel",
        "metadata": {"name": "wine", "namespace": "team-a", "uid": "u-1", "generation": 3},
        "spec": {
            "task": "classification",
            "dataset": {"uri": "sklearn://wine", "target": "target"},
            "serving": {"canary": {"steps": [10, 25, 50, 100]}},
        },
        "status": status,
    }


def version(
    name: str, stage: str, accuracy: float, seconds_ago: int, **more: Any
) -> dict[str, Any]:
    return {
        "version": name,
        "stage": stage,
        "metrics": {"accuracy": accuracy, "f1_macro": accuracy - 0.01},
        "createdAt": _iso(seconds_ago),
        "trigger": "create" if name == "v1" else "drift: alcohol",
        **more,
    }


def test_a_canary_in_progress() -> None:
    model = MLModel.from_body(
        body(
            phase="Canary",
            servingVersion="v1",
            candidateVersion="v2",
            canary={
                "weight": 25,
                "step": 1,
                "checksPassed": 3,
                "checksFailed": 1,
                "lastCheckTime": _iso(12),
                "holding": "waiting for 20 labelled requests on the canary (have 7)",
                "holdingSince": _iso(90),
            },
            versions=[
                version(
                    "v1",
                    "production",
                    0.91,
                    7200,
                    live={"metrics": {"accuracy": 0.88}, "rows": 250, "window": "1h"},
                ),
                version("v2", "canary", 0.95, 300),
            ],
            training={
                "run": "wine-v2-x",
                "version": "v2",
                "specHash": "aaaa",
                "trigger": "drift: alcohol",
                "backend": "local",
                "state": "Succeeded",
                "startedAt": _iso(400),
            },
            conditions=[
                {
                    "type": "DriftDetected",
                    "status": "True",
                    "reason": "Drift",
                    "message": "alcohol drifted (ks p=0.001)",
                    "lastTransitionTime": _iso(600),
                }
            ],
        )
    )
    text = model_view.render(model, now=NOW)
    lines = text.splitlines()
    assert "Serving:       v1   Candidate: v2" in lines
    assert (
        "Canary:        v2 at 25 % (step 2 of 4); checks 3 passed, 1 failed; last check 12s ago"
        in lines
    )
    assert (
        "               holding 1m: waiting for 20 labelled requests on the canary (have 7)"
        in lines
    )
    assert "Training:      v2 Succeeded, drift: alcohol, started 6m ago" in lines
    assert "Live quality:  v1: accuracy 0.88 over 250 rows (1h)" in lines
    assert "Drift:         True (Drift): alcohol drifted (ks p=0.001)" in lines
    table = text.split("\n\n")[2].splitlines()
    assert table[0].split() == [
        "VERSION",
        "STAGE",
        "ACCURACY",
        "F1_MACRO",
        "LIVE",
        "TRIGGER",
        "AGE",
    ]
    assert table[1].split()[:4] == ["v2", "canary", "25%", "0.95"]  # the canary first
    assert table[2].split()[:3] == ["v1", "production", "0.91"]
    assert "accuracy 0.88 (250)" in table[2]
    assert table[2].split()[-1] == "2h"
    assert "DriftDetected" in text.split("CONDITION")[1]


def test_a_new_model_training_and_a_transient_retry() -> None:
    model = MLModel.from_body(
        body(
            phase="Training",
            training={
                "run": "wine-v1-x",
                "version": "v1",
                "specHash": "aaaa",
                "trigger": "create",
                "backend": "local",
                "state": "Running",
                "step": "register-model",
                "retries": 1,
                "message": "Step 'register-model' failed with a transient error",
                "startedAt": _iso(45),
            },
        )
    )
    text = model_view.render(model, now=NOW)
    assert "Training:      v1 Running at register-model (retry 1), create, started 45s ago" in text
    assert "No versions yet." in text
    assert "Canary:" not in text
    assert "Serving:       -" in text


def test_age() -> None:
    assert model_view.age(None, NOW) == "-"
    assert model_view.age(NOW - timedelta(seconds=59), NOW) == "59s"
    assert model_view.age(NOW - timedelta(days=3, hours=5), NOW) == "3d"
    assert model_view.age(NOW + timedelta(seconds=5), NOW) == "0s"  # clocks a little apart


def test_the_last_batch_run_and_its_failing_files() -> None:
    model = MLModel.from_body(
        body(
            batch={
                "schedule": "@hourly",
                "nextRunAt": "2026-11-28T11:00:00Z",
                "last": {
                    "run": "wine-batch-x",
                    "state": "Succeeded",
                    "version": "v2",
                    "scheduledAt": "2026-11-28T10:00:00Z",
                    "finishedAt": _iso(30),
                    "message": "v2 scored 80 rows in 2 new file(s); 1 file(s) failed",
                    "failures": [{"file": "s3://b/in/bad.csv", "message": "KeyError: 'hue'"}],
                },
            }
        )
    )
    text = model_view.render(model, now=NOW)
    assert "Batch:         next 2026-11-28 11:00 UTC (@hourly)" in text
    assert "last Succeeded, 30s ago: v2 scored 80 rows in 2 new file(s); 1 file(s) failed" in text
    assert "failed s3://b/in/bad.csv: KeyError: 'hue'" in text
