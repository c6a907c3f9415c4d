"""The canary state machine (pure): start, hold, advance, promote or roll back.

Called by the MLModel reconcile with the state from status (restart-safe counters), the
canary spec, the analysis results and `now`. A first version with nothing serving goes
straight to 100 %; Prometheus unreachable or no traffic holds the canary (it never promotes
for lack of evidence) until ``progressDeadline``, when ``onProgressDeadline`` ends it. The
analysis runs once per interval whatever its outcome (``lastCheckTime``), so a canary without
metrics does not re-query, re-write or re-announce itself every tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pace.api.mlmodel import CanarySpec, CanaryState
from pace.core import analysis_queries, durations
from pace.core.analysis_queries import CheckResult

Action = Literal["Hold", "Advance", "Promote", "RollBack"]


@dataclass(frozen=True)
class Decision:
    """What to do now, the next state, and why."""

    action: Action
    state: CanaryState
    reason: str
    message: str


def predictor_of(state: CanaryState) -> str:
    """The SeldonDeployment predictor that runs the candidate."""
    return "shadow" if state.shadow else "canary"


def start(spec: CanarySpec, *, has_serving: bool, now: datetime) -> Decision:
    """The first step of a new canary (or straight promotion when nothing serves)."""
    if has_serving and spec.strategy == "shadow":
        return Decision(
            "Advance",
            CanaryState(
                weight=0,
                step=0,
                shadow=True,
                last_step_time=now,
                holding=STARTING,
                holding_since=now,
            ),
            "ShadowStarted",
            "Shadow started: the candidate gets a mirrored copy of live traffic; its answers "
            "are logged and never returned.",
        )
    if not has_serving:
        return Decision(
            "Promote",
            CanaryState(weight=100, step=len(spec.steps) - 1, last_step_time=now),
            "FirstVersion",
            "Nothing serves yet: the version takes all traffic.",
        )
    weight = spec.steps[0]
    if weight >= 100:
        return Decision(
            "Promote",
            CanaryState(weight=100, step=0, last_step_time=now),
            "SingleStep",
            "The only canary step is 100 %: promoting.",
        )
    return Decision(
        "Advance",
        CanaryState(weight=weight, step=0, last_step_time=now, holding=STARTING, holding_since=now),
        "Started",
        f"Canary started at {weight} % of traffic.",
    )


HOLD_REASONS = ("NoTraffic", "MetricsUnavailable")
STARTING = "PredictorStarting"


def wait_for_predictor(
    state: CanaryState, spec: CanarySpec, *, ready: bool, failed: str | None, now: datetime
) -> Decision | None:
    """The first step waits for the canary's predictor to answer: no analysis runs and the
    step's clock stands still until Seldon reports it ready (then the step starts over, so
    its window holds only traffic the predictor served). A predictor that fails, or is not
    ready within ``progressDeadline``, ends the canary. None: the predictor served before."""
    if state.holding != STARTING:
        return None
    if ready:
        return Decision(
            "Hold",
            state.model_copy(
                update={
                    "holding": None,
                    "holding_since": None,
                    "last_step_time": now,
                    "last_check_time": None,
                }
            ),
            "PredictorReady",
            f"The canary predictor answers; the {state.weight} % step starts now.",
        )
    since = state.holding_since or state.last_step_time or now
    waited = (now - since).total_seconds()
    if failed is not None:
        return Decision(
            "RollBack",
            state.model_copy(update={"weight": 0}),
            "PredictorFailed",
            f"The canary predictor failed: {failed}",
        )
    if waited >= durations.seconds(spec.progress_deadline):
        return Decision(
            "RollBack",
            state.model_copy(update={"weight": 0}),
            "ProgressDeadlineExceeded",
            f"The canary predictor did not answer within {waited:.0f}s "
            f"(progressDeadline {spec.progress_deadline}).",
        )
    return Decision("Hold", state, STARTING, "Waiting for the canary predictor to answer.")


def seconds_until_due(state: CanaryState, spec: CanarySpec, *, now: datetime) -> float:
    """Seconds until the next analysis: an interval after the last one, and never before the
    analysis window (`analysis_queries.window`) lies wholly inside the current step, so a
    step is never judged on the traffic of the step (or the canary) before it."""
    interval = durations.seconds(spec.interval)
    waits = [0.0]
    last = state.last_check_time or state.last_step_time
    if last is not None:
        waits.append(interval - (now - last).total_seconds())
    if state.last_step_time is not None:
        window = analysis_queries.window_seconds(interval)
        waits.append(window - (now - state.last_step_time).total_seconds())
    return max(waits)


def due(state: CanaryState, spec: CanarySpec, *, now: datetime) -> bool:
    """Whether the next analysis may run now (see `seconds_until_due`)."""
    return seconds_until_due(state, spec, now=now) <= 0


def _hold(
    state: CanaryState, spec: CanarySpec, reason: str, message: str, now: datetime
) -> Decision:
    """Hold without a verdict; past the progress deadline, end the canary as the spec says."""
    # NoTraffic and MetricsUnavailable both mean "no verdict": the clock runs across both.
    return _hold_until(
        state,
        spec,
        reason=reason,
        message=message,
        same_hold=HOLD_REASONS,
        limit=spec.progress_deadline,
        setting="onProgressDeadline",
        action=spec.on_progress_deadline,
        ended="ProgressDeadlineExceeded",
        why=" after no verdict for {waited}s (progressDeadline {limit}): {message}",
        now=now,
    )


AWAITING_LABELS = "AwaitingLabels"


def _await_labels(state: CanaryState, spec: CanarySpec, message: str, now: datetime) -> Decision:
    """Hold for labels (the live gate is inconclusive); past ``liveGate.maxWait`` in this
    step, end the canary as ``onMaxWait`` says."""
    gate = spec.live_gate
    assert gate is not None
    return _hold_until(
        state,
        spec,
        reason=AWAITING_LABELS,
        message=message,
        same_hold=(AWAITING_LABELS,),
        limit=gate.max_wait,
        setting="onMaxWait",
        action=gate.on_max_wait,
        ended="LabelsMissing",
        why=": not enough labels after {waited}s (liveGate.maxWait {limit}): {message}",
        now=now,
    )


def _hold_until(
    state: CanaryState,
    spec: CanarySpec,
    *,
    reason: str,
    message: str,
    same_hold: Sequence[str],
    limit: str,
    setting: str,
    action: str,
    ended: str,
    why: str,
    now: datetime,
) -> Decision:
    """Hold with ``reason``, the clock running since the hold began (across ``same_hold``
    reasons); once it has run ``limit``, end the canary by ``action`` (promote or rollback)
    with reason ``ended``."""
    since = (state.holding_since if state.holding in same_hold else None) or now
    held = state.model_copy(
        update={"last_check_time": now, "holding": reason, "holding_since": since}
    )
    waited = (now - since).total_seconds()
    if waited < durations.seconds(limit):
        return Decision("Hold", held, reason, message)
    because = why.format(waited=f"{waited:.0f}", limit=limit, message=message)
    if action == "promote":
        return Decision(
            "Promote",
            held.model_copy(update={"weight": 100, "step": len(spec.steps) - 1}),
            ended,
            f"Promoted by {setting}=promote{because}",
        )
    return Decision(
        "RollBack",
        held.model_copy(update={"weight": 0}),
        ended,
        f"Rolled back by {setting}=rollback{because}",
    )


def _after_shadow(state: CanaryState, spec: CanarySpec, now: datetime) -> Decision:
    """A shadow that passed: promoted at once, or it starts the progressive steps (waiting
    for its canary predictor first)."""
    if spec.after_shadow == "promote" or spec.steps[0] >= 100:
        return Decision(
            "Promote",
            state.model_copy(
                update={"weight": 100, "step": len(spec.steps) - 1, "last_step_time": now}
            ),
            "Promoted",
            "The shadow passed every check on live labels: promoting.",
        )
    weight = spec.steps[0]
    return Decision(
        "Advance",
        state.model_copy(
            update={
                "shadow": False,
                "weight": weight,
                "step": 0,
                "last_step_time": now,
                "last_check_time": None,
                "holding": STARTING,
                "holding_since": now,
            }
        ),
        "Advanced",
        f"The shadow passed every check on live labels: canary at {weight} % of traffic.",
    )


def decide(
    state: CanaryState,
    spec: CanarySpec,
    results: Sequence[CheckResult] | None,
    *,
    now: datetime,
    awaiting: str | None = None,
) -> Decision:
    """The next move after one analysis run. ``results`` None: metrics were unavailable.
    ``awaiting``: the live gate could not judge yet (too few labels); it holds the step
    unless a check failed."""
    if spec.paused:
        return Decision(
            "Hold",
            state.model_copy(
                update={"last_check_time": now, "holding": "Paused", "holding_since": None}
            ),
            "Paused",
            "spec.serving.canary.paused is true.",
        )
    if results is None:
        return _hold(
            state,
            spec,
            "MetricsUnavailable",
            "Prometheus could not be queried; the canary holds its step.",
            now,
        )
    if results and all(r.value is None for r in results):
        return _hold(
            state, spec, "NoTraffic", "No requests reached the canary in the window; holding.", now
        )
    failed = [r for r in results if not r.passed]
    if awaiting is not None and not failed:
        return _await_labels(state, spec, awaiting, now)
    state = state.model_copy(
        update={"last_check_time": now, "holding": None, "holding_since": None}
    )
    if failed:
        count = state.checks_failed + 1
        summary = "; ".join(r.message for r in failed)
        nxt = state.model_copy(update={"checks_failed": count, "last_step_time": now})
        if count > spec.max_failed_checks:
            return Decision(
                "RollBack",
                nxt.model_copy(update={"weight": 0}),
                "AnalysisFailed",
                f"{count} failed analysis runs (max {spec.max_failed_checks}): {summary}",
            )
        return Decision(
            "Hold",
            nxt,
            "CheckFailed",
            f"Analysis failed ({count}/{spec.max_failed_checks} tolerated): {summary}",
        )
    passed = state.checks_passed + 1
    if state.shadow:
        return _after_shadow(state.model_copy(update={"checks_passed": passed}), spec, now)
    if state.step + 1 >= len(spec.steps) or spec.steps[state.step + 1] >= 100:
        return Decision(
            "Promote",
            state.model_copy(
                update={
                    "weight": 100,
                    "step": len(spec.steps) - 1,
                    "checks_passed": passed,
                    "last_step_time": now,
                }
            ),
            "Promoted",
            f"Every check passed at {state.weight} %: promoting.",
        )
    step = state.step + 1
    weight = spec.steps[step]
    return Decision(
        "Advance",
        state.model_copy(
            update={"weight": weight, "step": step, "checks_passed": passed, "last_step_time": now}
        ),
        "Advanced",
        f"Every check passed at {state.weight} %: advancing to {weight} %.",
    )
