"""RetrainPolicy trigger decisions: drift streaks, schedule, metric `for`, new data,
cooldown and concurrency."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.retrain_policy import LastTrigger, RetrainPolicySpec, RetrainPolicyStatus
from pace.core import triggers

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def spec(**triggers_: object) -> RetrainPolicySpec:
    return RetrainPolicySpec.model_validate(
        {
            "modelRef": {"name": "m"},
            "triggers": triggers_,
            "cooldown": "10m",
            "maxConcurrentRuns": 1,
        }
    )


DRIFT = {"drift": {"monitorRef": {"name": "d"}, "consecutiveChecks": 2, "minShareDrifted": 0.2}}


def test_drift_fires_after_consecutive_checks() -> None:
    s, st = spec(**DRIFT), RetrainPolicyStatus()
    seen = triggers.Observations(drift_detected=True, share_drifted=0.5)
    first = triggers.evaluate(s, st, seen, now=NOW)
    assert (first.fire, first.consecutive_drift_checks) == (False, 1)
    st = st.model_copy(update={"consecutive_drift_checks": 1})
    second = triggers.evaluate(s, st, seen, now=NOW)
    assert second.fire
    assert second.reason.startswith("drift: d reported drift in 2 consecutive checks")
    assert second.consecutive_drift_checks == 0


def test_small_share_or_no_drift_resets_the_streak() -> None:
    st = RetrainPolicyStatus(consecutive_drift_checks=1)
    small = triggers.evaluate(
        spec(**DRIFT), st, triggers.Observations(drift_detected=True, share_drifted=0.1), now=NOW
    )
    assert (small.fire, small.consecutive_drift_checks) == (False, 0)


def test_cooldown_and_concurrency_hold() -> None:
    st = RetrainPolicyStatus(
        consecutive_drift_checks=5,
        last_trigger=LastTrigger(time=NOW - timedelta(minutes=5), reason="x"),
    )
    seen = triggers.Observations(drift_detected=True, share_drifted=1.0)
    held = triggers.evaluate(spec(**DRIFT), st, seen, now=NOW)
    assert not held.fire
    assert held.reason.startswith("cooldown until 12:05:00Z")
    later = triggers.evaluate(spec(**DRIFT), st, seen, now=NOW + timedelta(minutes=6))
    assert later.fire
    busy = triggers.evaluate(
        spec(**DRIFT),
        RetrainPolicyStatus(consecutive_drift_checks=5),
        triggers.Observations(drift_detected=True, share_drifted=1.0, runs_in_flight=1),
        now=NOW,
    )
    assert not busy.fire
    assert "1 run(s) in flight" in busy.reason


def test_schedule_metric_and_new_data() -> None:
    st = RetrainPolicyStatus(last_trigger=LastTrigger(time=NOW - timedelta(hours=2), reason="x"))
    hourly = triggers.evaluate(
        spec(schedule={"cron": "0 * * * *"}), st, triggers.Observations(), now=NOW
    )
    assert hourly.fire
    assert hourly.reason.startswith("schedule: 0 * * * *")
    recent = st.model_copy(
        update={"last_trigger": LastTrigger(time=NOW - timedelta(minutes=30), reason="x")}
    )
    assert not triggers.evaluate(
        spec(schedule={"cron": "0 3 * * *"}), recent, triggers.Observations(), now=NOW
    ).fire
    metric = spec(metric={"query": "acc", "threshold": 0.9, "operator": "below", "for": "5m"})
    short = triggers.Observations(metric_value=0.8, metric_breach_since=NOW - timedelta(minutes=1))
    assert not triggers.evaluate(metric, RetrainPolicyStatus(), short, now=NOW).fire
    long = triggers.Observations(metric_value=0.8, metric_breach_since=NOW - timedelta(minutes=6))
    assert triggers.evaluate(metric, RetrainPolicyStatus(), long, now=NOW).fire
    rows = spec(newData={"prefix": "s3://logs/new/", "minRows": 100})
    assert not triggers.evaluate(
        rows, RetrainPolicyStatus(), triggers.Observations(new_rows=99), now=NOW
    ).fire
    assert triggers.evaluate(
        rows, RetrainPolicyStatus(), triggers.Observations(new_rows=100), now=NOW
    ).fire


def test_schedule_counts_from_creation_not_a_day_back() -> None:
    daily = spec(schedule={"cron": "0 3 * * *"})
    created_today = triggers.Observations(armed_at=NOW - timedelta(hours=1))
    assert not triggers.evaluate(daily, RetrainPolicyStatus(), created_today, now=NOW).fire
    created_yesterday = triggers.Observations(armed_at=NOW - timedelta(hours=20))
    fired = triggers.evaluate(daily, RetrainPolicyStatus(), created_yesterday, now=NOW)
    assert fired.fire
    assert "due at 2026-06-01T03:00Z" in fired.reason


def test_busy_model_holds_and_keeps_the_streak() -> None:
    st = RetrainPolicyStatus(consecutive_drift_checks=1)
    seen = triggers.Observations(
        drift_detected=True, share_drifted=1.0, busy="canary of v2 in progress"
    )
    held = triggers.evaluate(spec(**DRIFT), st, seen, now=NOW)
    assert not held.fire
    assert held.reason.startswith("canary of v2 in progress (drift: d reported drift")
    assert held.consecutive_drift_checks == 2


def test_model_busy_names_what_blocks_a_retrain() -> None:
    from pace.api.mlmodel import CanaryState, MLModelStatus, TrainingRun

    assert triggers.model_busy(MLModelStatus(), None) == (
        "waiting for the model's first training run"
    )
    # v1 rejected by its gates: nothing serves, but a retrain (on new data, say) may pass.
    rejected = MLModelStatus(
        training=TrainingRun(
            run="m-v1-x",
            version="v1",
            spec_hash="x",
            trigger="create",
            backend="local",
            state="Succeeded",
        )
    )
    assert triggers.model_busy(rejected, None) is None
    serving = rejected.model_copy(update={"serving_version": "v1"})
    assert triggers.model_busy(serving, None) is None
    assert triggers.model_busy(serving, '{"id": "p#1"}') == (
        "a retrain request is already pending on the model"
    )
    held = serving.model_copy(update={"candidate_version": "v2"})
    assert triggers.model_busy(held, None) == "candidate v2 awaits `pace promote`"
    rolling = held.model_copy(update={"canary": CanaryState(weight=20)})
    assert triggers.model_busy(rolling, None) == "rollout of v2 in progress"


def test_drift_never_fires_on_a_remembered_streak() -> None:
    # A streak counted while the model was busy: no new check this tick, no firing.
    st = RetrainPolicyStatus(consecutive_drift_checks=7)
    stale = triggers.evaluate(spec(**DRIFT), st, triggers.Observations(), now=NOW)
    assert not stale.fire
    assert stale.consecutive_drift_checks == 7
    fresh = triggers.evaluate(
        spec(**DRIFT), st, triggers.Observations(drift_detected=True, share_drifted=0.5), now=NOW
    )
    assert fresh.fire
    assert fresh.consecutive_drift_checks == 0


def test_a_new_reference_version_starts_the_streak_again() -> None:
    st = RetrainPolicyStatus(consecutive_drift_checks=1, drift_reference_version="v1")
    against_v2 = triggers.Observations(drift_detected=True, share_drifted=0.5, drift_reference="v2")
    first = triggers.evaluate(spec(**DRIFT), st, against_v2, now=NOW)
    assert (first.fire, first.consecutive_drift_checks) == (False, 1)
    against_v1 = triggers.Observations(drift_detected=True, share_drifted=0.5, drift_reference="v1")
    assert triggers.evaluate(spec(**DRIFT), st, against_v1, now=NOW).fire


def test_any_firing_ends_the_drift_streak() -> None:
    both = spec(**DRIFT, newData={"prefix": "s3://logs/new/", "minRows": 10})
    st = RetrainPolicyStatus(consecutive_drift_checks=1)
    seen = triggers.Observations(drift_detected=False, new_rows=50)
    fired = triggers.evaluate(both, st, seen, now=NOW)
    assert fired.fire
    assert fired.reason.startswith("newData: 50 new rows")
    assert fired.consecutive_drift_checks == 0


def test_a_look_between_checks_says_what_the_last_check_said() -> None:
    """The policy looks again right after each write; with no new check, a standing streak
    still holds it by cooldown (the closed loop once saw "no trigger is due" flash back after
    every drifted check, so the cooldown was visible only for milliseconds)."""
    st = RetrainPolicyStatus(
        consecutive_drift_checks=3,
        last_trigger=LastTrigger(time=NOW - timedelta(minutes=5), reason="x"),
    )
    between = triggers.evaluate(spec(**DRIFT), st, triggers.Observations(), now=NOW)
    assert not between.fire
    assert between.reason.startswith("cooldown until 12:05:00Z (drift: d reported drift in 3")
    assert between.consecutive_drift_checks == 3
    after = triggers.evaluate(
        spec(**DRIFT), st, triggers.Observations(), now=NOW + timedelta(minutes=6)
    )
    assert not after.fire  # never on a remembered streak: it waits for a new drifted check
    assert after.reason.startswith("waiting for the next drifted check (drift: d reported")
    clean = triggers.evaluate(
        spec(**DRIFT), st, triggers.Observations(drift_detected=False), now=NOW
    )
    assert (clean.reason, clean.consecutive_drift_checks) == ("no trigger is due", 0)


def test_performance_fires_below_or_above_its_bound_with_enough_labelled_rows() -> None:
    below = spec(performance={"metric": "accuracy", "below": 0.8, "minRows": 100})
    fresh = RetrainPolicyStatus()

    def seen(value: float, rows: int) -> triggers.Observations:
        return triggers.Observations(live=("v3", value, rows))

    assert not triggers.evaluate(below, fresh, seen(0.7, 99), now=NOW).fire  # too few labels
    assert not triggers.evaluate(below, fresh, seen(0.85, 500), now=NOW).fire
    fired = triggers.evaluate(below, fresh, seen(0.7, 100), now=NOW)
    assert fired.fire
    assert fired.reason == (
        "performance: live accuracy 0.7 below 0.8 over 100 labelled predictions of v3"
    )
    above = spec(performance={"metric": "mae", "above": 2.5, "minRows": 10})
    assert triggers.evaluate(above, fresh, seen(3.0, 10), now=NOW).fire
    assert not triggers.evaluate(above, fresh, seen(2.0, 10), now=NOW).fire
    assert not triggers.evaluate(above, fresh, triggers.Observations(), now=NOW).fire


# Crons the pattern lets through that croniter refuses: a number out of range, a zero step
# (both refused by the CRD now, but stored before it did), a day no month has (CEL allows it).
BROKEN_CRONS = ["99 * * * *", "*/0 * * * *", "0 0 30 2 *"]


@pytest.mark.parametrize("cron", BROKEN_CRONS)
def test_a_broken_schedule_leaves_the_other_triggers_working(cron: str) -> None:
    fresh = RetrainPolicyStatus()
    with_drift = spec(schedule={"cron": cron}, **DRIFT)
    st = RetrainPolicyStatus(consecutive_drift_checks=1)
    drifted = triggers.Observations(drift_detected=True, share_drifted=0.5)
    fired = triggers.evaluate(with_drift, st, drifted, now=NOW)
    assert fired.fire
    assert fired.reason.startswith("drift: d reported drift in 2 consecutive checks")
    with_rows = spec(schedule={"cron": cron}, newData={"prefix": "s3://logs/new/", "minRows": 10})
    rows = triggers.evaluate(with_rows, fresh, triggers.Observations(new_rows=10), now=NOW)
    assert (rows.fire, rows.reason) == (True, "newData: 10 new rows under s3://logs/new/")
    with_live = spec(schedule={"cron": cron}, performance={"metric": "accuracy", "below": 0.8})
    live = triggers.Observations(live=("v1", 0.5, 100))
    assert triggers.evaluate(with_live, fresh, live, now=NOW).fire
    alone = triggers.evaluate(
        spec(schedule={"cron": cron}), fresh, triggers.Observations(), now=NOW
    )
    assert (alone.fire, alone.reason) == (False, "no trigger is due")


@pytest.mark.parametrize("cron", BROKEN_CRONS)
def test_a_broken_schedule_is_named_with_its_field_and_value(cron: str) -> None:
    problem = triggers.spec_problem(spec(schedule={"cron": cron}, **DRIFT), now=NOW)
    assert problem is not None
    assert problem.startswith(f"spec.triggers.schedule.cron: {cron!r} cannot be scheduled (")
    assert problem.endswith(
        "the schedule trigger is off until it is fixed; the other triggers stay armed"
    )
    alone = triggers.spec_problem(spec(schedule={"cron": cron}), now=NOW)
    assert alone is not None
    assert alone.endswith("off until it is fixed")  # no other trigger to speak of
    with pytest.raises(triggers.InvalidSchedule, match=r"spec\.triggers\.schedule\.cron"):
        triggers.next_schedule(cron, NOW)


def test_a_runnable_schedule_is_no_problem() -> None:
    assert triggers.spec_problem(spec(schedule={"cron": "0 0 * * 7"}), now=NOW) is None
    assert triggers.spec_problem(spec(**DRIFT), now=NOW) is None


def test_a_live_metric_the_model_never_measures_is_named() -> None:
    perf = {"performance": {"metric": "mae", "above": 0.5}}
    problem = triggers.spec_problem(spec(**perf, **DRIFT), now=NOW, task="classification")
    assert problem == (
        "spec.triggers.performance.metric: 'mae' is not measured for a classification model "
        "(it has accuracy, f1_macro, log_loss): the performance trigger is off until it is "
        "fixed; the other triggers stay armed"
    )
    assert triggers.spec_problem(spec(**perf), now=NOW, task="regression") is None
    assert triggers.spec_problem(spec(**perf), now=NOW) is None  # the model not seen yet
    both = triggers.spec_problem(
        spec(schedule={"cron": "0 0 30 2 *"}, **perf), now=NOW, task="classification"
    )
    assert both is not None
    assert "the schedule trigger is off" in both
    assert both.endswith("the performance trigger is off until it is fixed")
