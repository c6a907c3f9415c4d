"""What rollout decisions do to an MLModel's status: stages, serving version, canary, events."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.mlmodel import CanarySpec, CanaryState, MLModelStatus, VersionRecord
from pace.core import canary, rollout
from pace.core.analysis_queries import CheckResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = CanarySpec(steps=[20, 50, 100], interval="30s", max_failed_checks=0, progress_deadline="5m")


def _status(**stages: str) -> MLModelStatus:
    versions = [VersionRecord(version=v, stage=s) for v, s in stages.items()]  # type: ignore[arg-type]
    serving = next((v for v, s in stages.items() if s == "production"), None)
    candidate = next((v for v, s in stages.items() if s in ("candidate", "canary")), None)
    return MLModelStatus(versions=versions, serving_version=serving, candidate_version=candidate)


def _stages(result: rollout.RolloutStatus) -> dict[str, str]:
    return {v.version: v.stage for v in result.versions}


def test_promote_archives_the_old_production_version() -> None:
    result = rollout.promote(
        _status(v1="production", v2="canary"),
        "v2",
        reason="Promoted",
        message="m",
        generation=1,
        now=T0,
    )
    assert _stages(result) == {"v1": "archived", "v2": "production"}
    assert (result.serving_version, result.candidate_version, result.canary) == ("v2", None, None)


def test_roll_back_rejects_the_candidate_or_marks_it_superseded() -> None:
    current = _status(v1="production", v2="canary")
    rejected = rollout.roll_back(current, reason="RolledBack", message="m", generation=1, now=T0)
    assert _stages(rejected) == {"v1": "production", "v2": "rejected"}
    superseded = rollout.roll_back(
        current,
        reason="Superseded",
        message="m",
        generation=1,
        now=T0,
        candidate_stage="superseded",
    )
    assert _stages(superseded) == {"v1": "production", "v2": "superseded"}
    assert superseded.serving_version == "v1"


def test_roll_back_to_an_archived_version_serves_it() -> None:
    result = rollout.roll_back(
        _status(v1="archived", v2="production"),
        reason="ManualRollback",
        message="m",
        generation=1,
        now=T0,
        to="v1",
    )
    assert _stages(result) == {"v1": "production", "v2": "archived"}
    assert result.serving_version == "v1"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("v1", None),
        ("v3", "is rejected"),
        ("v4", "is superseded"),
        ("v5", "is the canary"),
        ("v9", "is not a version"),
    ],
)
def test_rollback_targets(target: str, problem: str | None) -> None:
    current = _status(v1="archived", v2="production", v3="rejected", v4="superseded", v5="canary")
    found = rollout.rollback_target_problem(current, target)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_step_events_only_on_transitions() -> None:
    current = _status(v1="production", v2="canary").model_copy(
        update={"canary": CanaryState(weight=20, step=0, last_step_time=T0)}
    )
    first = canary.decide(current.canary, SPEC, None, now=T0 + timedelta(seconds=30))  # type: ignore[arg-type]
    held = rollout.step(current, first, generation=1, now=T0)
    assert held.event is not None
    assert held.event[1] == "MetricsUnavailable"
    again = current.model_copy(update={"canary": first.state})
    second = canary.decide(first.state, SPEC, None, now=T0 + timedelta(seconds=60))
    assert rollout.step(again, second, generation=1, now=T0).event is None  # still holding


def test_progress_deadline_ends_a_stuck_canary() -> None:
    state = CanaryState(weight=20, step=0, last_step_time=T0)
    no_data = [CheckResult("success-rate", None, False, "no data")]
    d = canary.decide(state, SPEC, no_data, now=T0 + timedelta(minutes=1))
    assert (d.action, d.state.holding, d.state.holding_since) == (
        "Hold",
        "NoTraffic",
        T0 + timedelta(minutes=1),
    )
    d = canary.decide(d.state, SPEC, None, now=T0 + timedelta(minutes=4))
    assert (d.action, d.state.holding_since) == ("Hold", T0 + timedelta(minutes=1))
    d = canary.decide(d.state, SPEC, None, now=T0 + timedelta(minutes=6))
    assert (d.action, d.reason) == ("RollBack", "ProgressDeadlineExceeded")
    current = _status(v1="production", v2="canary").model_copy(update={"canary": state})
    result = rollout.step(current, d, generation=1, now=T0)
    assert _stages(result)["v2"] == "rejected"
    assert result.conditions[0].reason == "ProgressDeadlineExceeded"
    promote = SPEC.model_copy(update={"on_progress_deadline": "promote"})
    d = canary.decide(
        state.model_copy(update={"holding": "NoTraffic", "holding_since": T0}),
        promote,
        None,
        now=T0 + timedelta(minutes=5),
    )
    assert (d.action, d.state.weight) == ("Promote", 100)


def test_a_verdict_clears_holding_and_analysis_runs_once_per_interval() -> None:
    state = CanaryState(weight=20, step=0, last_step_time=T0, holding="NoTraffic", holding_since=T0)
    ok = [CheckResult("success-rate", 1.0, True, "ok")]
    d = canary.decide(state, SPEC, ok, now=T0 + timedelta(seconds=30))
    assert (d.action, d.state.holding, d.state.holding_since) == ("Advance", None, None)
    held = canary.decide(state, SPEC, None, now=T0 + timedelta(seconds=30)).state
    assert not canary.due(held, SPEC, now=T0 + timedelta(seconds=45))
    assert canary.due(held, SPEC, now=T0 + timedelta(seconds=60))


def test_a_step_is_never_judged_on_traffic_from_before_it() -> None:
    """A 4 s interval has a 10 s rate window: the first analysis of a step waits until the
    window lies inside the step (else the previous canary's traffic is judged)."""
    spec = CanarySpec(steps=[20, 100], interval="4s")
    state = CanaryState(weight=20, step=0, last_step_time=T0)
    assert not canary.due(state, spec, now=T0 + timedelta(seconds=6))
    assert canary.seconds_until_due(state, spec, now=T0 + timedelta(seconds=6)) == 4
    assert canary.due(state, spec, now=T0 + timedelta(seconds=10))
    checked = state.model_copy(update={"last_check_time": T0 + timedelta(seconds=10)})
    assert not canary.due(checked, spec, now=T0 + timedelta(seconds=13))
    assert canary.due(checked, spec, now=T0 + timedelta(seconds=14))


def test_no_traffic_holds_silently() -> None:
    current = _status(v1="production", v2="canary").model_copy(
        update={"canary": CanaryState(weight=20, step=0, last_step_time=T0)}
    )
    no_data = [CheckResult("success-rate", None, False, "no data")]
    d = canary.decide(current.canary, SPEC, no_data, now=T0 + timedelta(seconds=30))  # type: ignore[arg-type]
    assert d.reason == "NoTraffic"
    assert rollout.step(current, d, generation=1, now=T0).event is None
