"""The canary state machine (pure): start, hold, advance, promote or roll back.

Called by the MLModel canary timer with the state from status (restart-safe counters), the
canary spec, the analysis results and `now`. A first version with nothing serving goes
straight to 100 %; Prometheus unreachable or no traffic holds the canary, it never promotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pace.api.mlmodel import CanarySpec, CanaryState
from pace.core import durations
from pace.core.analysis_queries import CheckResult

Action = Literal["Hold", "Advance", "Promote", "RollBack"]


@dataclass(frozen=True)
class Decision:
    """What to do now, the next state, and why."""

    action: Action
    state: CanaryState
    reason: str
    message: str


def start(spec: CanarySpec, *, has_serving: bool, now: datetime) -> Decision:
    """The first step of a new canary (or straight promotion when nothing serves)."""
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
        CanaryState(weight=weight, step=0, last_step_time=now),
        "Started",
        f"Canary started at {weight} % of traffic.",
    )


def due(state: CanaryState, spec: CanarySpec, *, now: datetime) -> bool:
    """Whether an interval has passed since the current step began (or the last check)."""
    if state.last_step_time is None:
        return True
    return (now - state.last_step_time).total_seconds() >= durations.seconds(spec.interval)


def decide(
    state: CanaryState, spec: CanarySpec, results: Sequence[CheckResult] | None, *, now: datetime
) -> Decision:
    """The next move after one analysis run. ``results`` None: metrics were unavailable."""
    if spec.paused:
        return Decision("Hold", state, "Paused", "spec.serving.canary.paused is true.")
    if results is None:
        return Decision(
            "Hold",
            state,
            "MetricsUnavailable",
            "Prometheus could not be queried; the canary holds its step.",
        )
    if results and all(r.value is None for r in results):
        return Decision(
            "Hold",
            state.model_copy(update={"last_step_time": now}),
            "NoTraffic",
            "No requests reached the canary in the window; holding.",
        )
    failed = [r for r in results if not r.passed]
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
