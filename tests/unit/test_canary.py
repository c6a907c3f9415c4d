"""The canary state machine, step by step."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.mlmodel import CanarySpec, CanaryState
from pace.core import canary
from pace.core.analysis_queries import CheckResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = CanarySpec(steps=[10, 50, 100], interval="30s", max_failed_checks=1)
OK = [CheckResult("success-rate", 1.0, True, "ok"), CheckResult("latency-p99", 0.01, True, "ok")]
BAD = [CheckResult("success-rate", 0.5, False, "success-rate 0.5 below min 0.99"), OK[1]]
NODATA = [
    CheckResult("success-rate", None, False, "no data"),
    CheckResult("latency-p99", None, False, "no data"),
]


def test_first_version_goes_straight_to_100() -> None:
    d = canary.start(SPEC, has_serving=False, now=T0)
    assert (d.action, d.state.weight, d.reason) == ("Promote", 100, "FirstVersion")


def test_start_at_first_step() -> None:
    d = canary.start(SPEC, has_serving=True, now=T0)
    assert (d.action, d.state.weight, d.state.step) == ("Advance", 10, 0)


def test_healthy_canary_advances_then_promotes() -> None:
    state = canary.start(SPEC, has_serving=True, now=T0).state
    d = canary.decide(state, SPEC, OK, now=T0 + timedelta(seconds=30))
    assert (d.action, d.state.weight, d.state.step, d.state.checks_passed) == ("Advance", 50, 1, 1)
    d = canary.decide(d.state, SPEC, OK, now=T0 + timedelta(seconds=60))
    assert (d.action, d.state.weight, d.reason) == ("Promote", 100, "Promoted")


def test_failures_are_tolerated_up_to_max_then_roll_back() -> None:
    state = canary.start(SPEC, has_serving=True, now=T0).state
    d = canary.decide(state, SPEC, BAD, now=T0)
    assert (d.action, d.state.checks_failed, d.state.weight) == ("Hold", 1, 10)
    d = canary.decide(d.state, SPEC, BAD, now=T0)
    assert (d.action, d.state.weight, d.reason) == ("RollBack", 0, "AnalysisFailed")
    assert "success-rate 0.5 below min 0.99" in d.message


@pytest.mark.parametrize(
    ("results", "reason"), [(None, "MetricsUnavailable"), (NODATA, "NoTraffic")]
)
def test_no_metrics_holds_and_never_promotes(
    results: list[CheckResult] | None, reason: str
) -> None:
    state = CanaryState(weight=50, step=1, last_step_time=T0)
    d = canary.decide(state, SPEC, results, now=T0 + timedelta(hours=1))
    assert (d.action, d.reason, d.state.weight, d.state.checks_failed) == ("Hold", reason, 50, 0)


def test_paused_holds() -> None:
    spec = SPEC.model_copy(update={"paused": True})
    d = canary.decide(CanaryState(weight=10), spec, OK, now=T0)
    assert (d.action, d.reason) == ("Hold", "Paused")


def test_due_after_interval() -> None:
    state = CanaryState(weight=10, last_step_time=T0)
    assert not canary.due(state, SPEC, now=T0 + timedelta(seconds=29))
    assert canary.due(state, SPEC, now=T0 + timedelta(seconds=30))


def test_first_step_waits_for_the_canary_predictor() -> None:
    state = canary.start(SPEC, has_serving=True, now=T0).state
    assert state.holding == canary.STARTING
    # Not ready yet: hold, state unchanged (nothing to write), no analysis.
    waiting = canary.wait_for_predictor(
        state, SPEC, ready=False, failed=None, now=T0 + timedelta(seconds=20)
    )
    assert waiting is not None
    assert (waiting.action, waiting.state) == ("Hold", state)
    # Ready: the step starts over from now, so its window holds only served traffic.
    up = T0 + timedelta(seconds=25)
    ready = canary.wait_for_predictor(state, SPEC, ready=True, failed=None, now=up)
    assert ready is not None
    assert (ready.action, ready.reason) == ("Hold", "PredictorReady")
    assert (ready.state.holding, ready.state.last_step_time) == (None, up)
    assert not canary.due(ready.state, SPEC, now=up + timedelta(seconds=29))
    assert canary.due(ready.state, SPEC, now=up + timedelta(seconds=30))
    # Once it served, later steps do not wait again (a weight change is no new predictor).
    assert canary.wait_for_predictor(ready.state, SPEC, ready=False, failed=None, now=up) is None


def test_a_canary_predictor_that_fails_or_never_starts_ends_the_canary() -> None:
    state = canary.start(SPEC, has_serving=True, now=T0).state
    failed = canary.wait_for_predictor(
        state, SPEC, ready=False, failed="model.joblib not found", now=T0
    )
    assert failed is not None
    assert (failed.action, failed.reason) == ("RollBack", "PredictorFailed")
    assert "model.joblib not found" in failed.message
    late = T0 + timedelta(seconds=canary.durations.seconds(SPEC.progress_deadline))
    never = canary.wait_for_predictor(state, SPEC, ready=False, failed=None, now=late)
    assert never is not None
    assert (never.action, never.reason) == ("RollBack", "ProgressDeadlineExceeded")
    assert "progressDeadline" in never.message
