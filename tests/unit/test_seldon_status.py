"""Reading a SeldonDeployment's status (Seldon Core v1's shape) and writing it the same way."""

from __future__ import annotations

from typing import Any

from pace.core import seldon_status
from pace.core.seldon_status import PredictorState


def sdep(status: dict[str, Any] | None = None, *, generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "wine", "generation": generation}, "status": status or {}}


def test_deployment_names_follow_seldons_rule() -> None:
    assert seldon_status.deployment_name("wine", "main") == "wine-main-0-model"
    long = seldon_status.deployment_name("w" * 60, "canary")
    assert long.startswith("seldon-")
    assert len(long) == 39


def test_a_predictor_serves_only_once_seldon_says_so() -> None:
    assert not seldon_status.readiness(None, ["main"]).ready
    assert seldon_status.readiness(sdep(), ["main"]).message == (
        "SeldonDeployment wine is not reported yet (main 0/? available)."
    )
    creating = sdep(
        {
            "state": "Creating",
            "observedGeneration": 2,
            "deploymentStatus": {"wine-main-0-model": {"replicas": 1, "availableReplicas": 0}},
        }
    )
    verdict = seldon_status.readiness(creating, ["main"])
    assert (verdict.ready, verdict.reason) == (False, "PredictorStarting")
    assert verdict.message == "SeldonDeployment wine is Creating (main 0/1 available)."
    available = sdep(
        {
            "state": "Available",
            "observedGeneration": 2,
            "deploymentStatus": {"wine-main-0-model": {"replicas": 1, "availableReplicas": 1}},
        }
    )
    assert seldon_status.readiness(available, ["main"]).ready
    # The canary predictor is asked about on its own: not there yet.
    assert not seldon_status.readiness(available, ["main", "canary"]).ready
    # A status from before the latest spec says nothing about it.
    stale = {**available, "metadata": {"name": "wine", "generation": 3}}
    assert seldon_status.readiness(stale, ["main"]).message == (
        "SeldonDeployment wine has not acted on its latest spec yet."
    )
    failed = sdep({"state": "Failed", "description": "main: model.joblib not found"})
    verdict = seldon_status.readiness(failed, ["main"])
    assert (verdict.ready, verdict.reason) == (False, "PredictorFailed")
    assert "model.joblib not found" in verdict.message


def test_rendered_status_reads_back() -> None:
    obj = sdep()
    starting = seldon_status.render(
        obj, {"main": PredictorState(1, 1), "canary": PredictorState(1, 0)}
    )
    assert starting["state"] == "Creating"
    assert starting["observedGeneration"] == 2
    assert not seldon_status.readiness({**obj, "status": starting}, ["main", "canary"]).ready
    # A first main predictor waits for the whole deployment to be Available, as Seldon says;
    # one that served before keeps serving while a canary starts beside it.
    assert not seldon_status.readiness({**obj, "status": starting}, ["main"]).ready
    kept = seldon_status.readiness({**obj, "status": starting}, ["main"], serving=True)
    assert kept.ready
    # ... and even before Seldon has looked at the spec that added the canary.
    newer = {"metadata": {"name": "wine", "generation": 3}, "status": starting}
    assert seldon_status.readiness(newer, ["main"], serving=True).ready
    assert not seldon_status.readiness(newer, ["canary"]).ready
    up = seldon_status.render(obj, {"main": PredictorState(1, 1), "canary": PredictorState(1, 1)})
    assert seldon_status.readiness({**obj, "status": up}, ["main", "canary"]).ready
    broken = seldon_status.render(obj, {"main": PredictorState(1, 0, failure="exit 1")})
    assert (broken["state"], broken["description"]) == ("Failed", "main: exit 1")
    gone = seldon_status.readiness({**obj, "status": broken}, ["main"], serving=True)
    assert (gone.ready, gone.reason) == (False, "PredictorFailed")


def test_a_rolling_update_keeps_the_old_replica_available() -> None:
    """Seldon replaces a predictor's pods by a rolling update: the old replica answers while
    the new one starts, the deployment is Creating meanwhile."""
    obj = sdep()
    rolling = seldon_status.render(obj, {"main": PredictorState(1, 1, updating=True)})
    assert rolling["state"] == "Creating"
    assert rolling["deploymentStatus"]["wine-main-0-model"]["availableReplicas"] == 1
    assert seldon_status.readiness({**obj, "status": rolling}, ["main"], serving=True).ready
    assert not seldon_status.readiness({**obj, "status": rolling}, ["main"]).ready
