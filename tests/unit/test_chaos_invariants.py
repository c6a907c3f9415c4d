"""The chaos trials' invariants find each violation they are meant to (tests.chaos.invariants)."""

from __future__ import annotations

from typing import Any

from tests.chaos import invariants


def model(serving: str | None, candidate: str | None = None, **status: Any) -> dict[str, Any]:
    versions = status.pop("versions", [{"version": "v1", "stage": "production"}])
    return {
        "metadata": {"name": "m"},
        "status": {
            "servingVersion": serving,
            "candidateVersion": candidate,
            "versions": versions,
            **status,
        },
    }


def sdep(*predictors: tuple[str, str]) -> dict[str, Any]:
    return {
        "spec": {
            "predictors": [
                {"name": n, "labels": {"mlops.pace.dev/version": v}} for n, v in predictors
            ]
        }
    }


def test_versions_must_match_the_registry_once_each_without_gaps() -> None:
    ok = model("v1")
    assert invariants.versions(ok, {"v1"}) == []
    assert invariants.versions(ok, {"v1", "v2"}) == [
        "m: status lists ['v1'] but the registry holds ['v1', 'v2']"
    ]
    twice = model("v1", versions=[{"version": "v1", "stage": "production"}] * 2)
    assert "listed twice" in invariants.versions(twice, {"v1"})[0]
    gap = model("v1", versions=[{"version": "v1", "stage": "x"}, {"version": "v3", "stage": "y"}])
    assert invariants.versions(gap, {"v1", "v3"}) == ["m: versions ['v1', 'v3'] are not v1..v2"]


def test_one_run_and_one_training_start_per_version() -> None:
    records = [{"type": "TrainingStarted", "version": "v1"}]
    assert invariants.runs("m", ["m-v1-abc-123", "m-v2-abc-456", "mx-v1-z"], records) == []
    assert invariants.runs("m", ["m-v1-abc-123", "m-v1-abc-789"], records) == [
        "m: 2 pipeline runs for v1"
    ]
    assert invariants.runs("m", [], records * 2) == ["m: 2 TrainingStarted records for v1"]


def test_events_that_happen_once_are_recorded_once() -> None:
    records = [{"type": "Promoted", "version": "v2"}, {"type": "Advanced", "version": "v2"}] * 2
    assert invariants.audit_once("m", records) == ["m: Promoted of v2 recorded 2 times"]


def test_no_promotion_without_passed_gates_or_after_a_rollback() -> None:
    good = [{"type": "GatesPassed", "version": "v2"}, {"type": "Promoted", "version": "v2"}]
    assert invariants.promotions("m", good) == []
    assert invariants.promotions("m", good[1:]) == ["m: v2 promoted without passing its gates"]
    late = [good[0], {"type": "RolledBack", "version": "v2"}, good[1]]
    assert invariants.promotions("m", late) == ["m: v2 promoted after it was rolled back"]


def test_the_seldon_deployment_matches_status_with_no_orphan() -> None:
    assert invariants.deployment(model("v1"), sdep(("main", "v1"))) == []
    canary = model("v1", "v2", canary={"weight": 50})
    assert invariants.deployment(canary, sdep(("main", "v1"), ("canary", "v2"))) == []
    assert invariants.deployment(canary, sdep(("main", "v1"))) == [
        "m: canary of v2 in status, predictors {}"
    ]
    assert invariants.deployment(model("v2"), sdep(("main", "v1"))) == [
        "m: main predictor serves v1, not v2",
        "m: orphaned predictor(s) {'main': 'v1'}",
    ]
    left = invariants.deployment(model("v1"), sdep(("main", "v1"), ("canary", "v2")))
    assert left == [
        "m: predictors {'canary': 'v2'} beside main, but no canary in status",
        "m: orphaned predictor(s) {'canary': 'v2'}",
    ]
    assert invariants.deployment(model("v1"), None) == [
        "m: serves v1 in status but has no SeldonDeployment"
    ]
