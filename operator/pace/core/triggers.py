"""When a RetrainPolicy fires (pure): schedule, drift, metric, new-data and performance
triggers, cooldown
and concurrency. Every input is a parameter, including `now` and what was observed, so the
decision is the same after an operator restart (state lives in the policy's status).

The RetrainPolicy handler (pace.handlers.retrain_policy) observes the monitor, the PromQL
value, the new rows and the model's state, calls `evaluate`, and requests a run on the MLModel.
A schedule croniter cannot run (stored before the CRD refused it, or a date no month has) is
named by `spec_problem` and left out of `evaluate`: the policy's other triggers stay armed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pace.api.mlmodel import MLModelStatus
from pace.api.retrain_policy import RetrainPolicySpec, RetrainPolicyStatus
from pace.core import durations


@dataclass(frozen=True)
class Observations:
    """What the handler observed for one evaluation."""

    drift_detected: bool | None = None  # the DriftMonitor's latest verdict
    share_drifted: float | None = None
    drift_check_time: datetime | None = None  # its lastCheck (None: no new check this tick)
    drift_reference: str | None = None  # the version whose reference that check used
    metric_value: float | None = None  # the PromQL trigger's value (None: no sample)
    metric_breach_since: datetime | None = None  # when the value first crossed
    new_rows: int = 0  # rows added under newData.prefix since the last run
    live: tuple[str, float, int] | None = None  # serving version, its live metric, rows
    runs_in_flight: int = 0  # training runs of the model not yet finished
    armed_at: datetime | None = None  # when the policy was created (first schedule base)
    busy: str | None = None  # why the model cannot take a retrain now (rollout, no version)


@dataclass(frozen=True)
class Decision:
    """Fire (with a reason) or not (with why not), and the counter to store."""

    fire: bool
    reason: str
    consecutive_drift_checks: int


def model_busy(current: MLModelStatus, pending: str | None) -> str | None:
    """Why the model cannot take a retrain now, or None (``pending``: a request not yet
    taken)."""
    if current.training is None:
        return "waiting for the model's first training run"
    if current.candidate_version is not None and current.canary is None:
        return f"candidate {current.candidate_version} awaits `pace promote`"
    if current.candidate_version is not None:
        return f"rollout of {current.candidate_version} in progress"
    if pending is not None:
        return "a retrain request is already pending on the model"
    return None


SCHEDULE_FIELD = "spec.triggers.schedule.cron"


class InvalidSchedule(ValueError):
    """croniter cannot run the schedule; the message names the field and its value."""


def next_schedule(cron: str, after: datetime) -> datetime:
    """The first cron time strictly after ``after`` (UTC).

    Raises:
        InvalidSchedule: croniter refuses the expression (a number out of range, a zero
            step) or finds no time it matches (``0 0 30 2 *``).
    """
    from croniter import croniter

    try:
        result: datetime = croniter(cron, after).get_next(datetime)
    except (ValueError, OverflowError) as exc:  # croniter's errors are ValueErrors
        raise InvalidSchedule(f"{SCHEDULE_FIELD}: {cron!r} cannot be scheduled ({exc})") from exc
    return result


LIVE_METRICS_BY_TASK = {
    "classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("mae", "rmse"),
}
PERFORMANCE_FIELD = "spec.triggers.performance.metric"


def spec_problem(spec: RetrainPolicySpec, *, now: datetime, task: str | None = None) -> str | None:
    """Why a trigger of the spec can never fire (naming its field), or None: a schedule the
    CRD lets through but no date matches, or (``task`` of the referenced model known) a live
    metric that task never measures. That trigger is off, the others stay armed."""
    trig = spec.triggers
    problems: list[tuple[str, str]] = []  # (trigger, what is wrong)
    if trig.schedule is not None:
        try:
            next_schedule(trig.schedule.cron, now)
        except InvalidSchedule as exc:
            problems.append(("schedule", str(exc)))
    measured = LIVE_METRICS_BY_TASK.get(task or "")
    if trig.performance is not None and measured and trig.performance.metric not in measured:
        problems.append(
            (
                "performance",
                f"{PERFORMANCE_FIELD}: {trig.performance.metric!r} is not measured for a {task} "
                f"model (it has {', '.join(measured)})",
            )
        )
    if not problems:
        return None
    named: dict[str, object] = {
        "schedule": trig.schedule,
        "drift": trig.drift,
        "metric": trig.metric,
        "newData": trig.new_data,
        "performance": trig.performance,
    }
    off = {kind for kind, _ in problems}
    armed = any(t is not None for kind, t in named.items() if kind not in off)
    rest = "; the other triggers stay armed" if armed else ""
    return (
        "; ".join(f"{what}: the {kind} trigger is off until it is fixed" for kind, what in problems)
        + rest
    )


def _drift_count(spec: RetrainPolicySpec, status: RetrainPolicyStatus, seen: Observations) -> int:
    """The streak after this tick: a new drifted check extends it, a clean one ends it; a
    check against another version's reference than the streak's starts it again."""
    trigger = spec.triggers.drift
    if trigger is None or seen.drift_detected is None:
        return status.consecutive_drift_checks
    drifted = seen.drift_detected and (seen.share_drifted or 0.0) >= trigger.min_share_drifted
    same_reference = seen.drift_reference == status.drift_reference_version
    base = status.consecutive_drift_checks if same_reference else 0
    return base + 1 if drifted else 0


def evaluate(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, seen: Observations, *, now: datetime
) -> Decision:
    """Whether a retrain is due now, first matching trigger wins; cooldown and concurrency
    hold every trigger."""
    count = _drift_count(spec, status, seen)
    reasons = []
    trig = spec.triggers
    drifting = None  # the drift streak stands at its threshold (as of the last check)
    if trig.drift is not None and count >= trig.drift.consecutive_checks:
        share = "" if seen.share_drifted is None else f" (share {seen.share_drifted:.0%})"
        drifting = (
            f"drift: {trig.drift.monitor_ref.name} reported drift in {count} "
            f"consecutive checks{share}"
        )
        # Drift fires on a new drifted check only, never on a streak remembered from before.
        if seen.drift_detected:
            reasons.append(drifting)
    if trig.schedule is not None:
        last = (
            status.last_trigger.time
            if status.last_trigger
            else (seen.armed_at or now - timedelta(days=1))
        )
        try:
            due = next_schedule(trig.schedule.cron, last)
        except InvalidSchedule:
            pass  # `spec_problem` names it; the other triggers are judged all the same
        else:
            if due <= now:
                reasons.append(f"schedule: {trig.schedule.cron} was due at {due:%Y-%m-%dT%H:%MZ}")
    if trig.metric is not None and seen.metric_value is not None:
        above = seen.metric_value > trig.metric.threshold
        crossed = (
            above
            if trig.metric.operator == "above"
            else (seen.metric_value < trig.metric.threshold)
        )
        held = durations.seconds(trig.metric.for_)
        if (
            crossed
            and seen.metric_breach_since is not None
            and (now - seen.metric_breach_since).total_seconds() >= held
        ):
            reasons.append(
                f"metric: value {seen.metric_value:.4g} {trig.metric.operator} "
                f"{trig.metric.threshold} for {trig.metric.for_}"
            )
    if trig.performance is not None and seen.live is not None:
        version, value, rows = seen.live
        low, high = trig.performance.below, trig.performance.above
        crossed = (low is not None and value < low) or (high is not None and value > high)
        if crossed and rows >= trig.performance.min_rows:
            side, limit = ("below", low) if low is not None else ("above", high)
            reasons.append(
                f"performance: live {trig.performance.metric} {value:.4g} {side} {limit} "
                f"over {rows} labelled predictions of {version}"
            )
    if trig.new_data is not None and seen.new_rows >= trig.new_data.min_rows:
        reasons.append(f"newData: {seen.new_rows} new rows under {trig.new_data.prefix}")
    # Between checks a standing drift streak is still what holds the policy: the look after
    # a check must say the same as the check's (cooldown or waiting), not "nothing is due".
    pending = reasons or ([drifting] if drifting else [])
    if not pending:
        return Decision(False, "no trigger is due", count)
    if status.last_trigger is not None:
        ready_at = status.last_trigger.time + timedelta(seconds=durations.seconds(spec.cooldown))
        if now < ready_at:
            return Decision(False, f"cooldown until {ready_at:%H:%M:%SZ} ({pending[0]})", count)
    if not reasons:
        return Decision(False, f"waiting for the next drifted check ({pending[0]})", count)
    if seen.busy is not None:
        return Decision(False, f"{seen.busy} ({reasons[0]})", count)
    if seen.runs_in_flight >= spec.max_concurrent_runs:
        return Decision(
            False,
            f"{seen.runs_in_flight} run(s) in flight, max "
            f"{spec.max_concurrent_runs} ({reasons[0]})",
            count,
        )
    return Decision(True, reasons[0], 0)  # a retrain answers any drift seen so far
