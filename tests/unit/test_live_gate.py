"""The live gate's statistics against scipy on known inputs, and its verdicts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu, norm

from pace.api.mlmodel import CanarySpec, CanaryState
from pace.core import canary, live_gate
from pace.core.analysis_queries import CheckResult

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_two_proportion_z_against_the_formula_and_scipy() -> None:
    z, p = live_gate.two_proportion(60, 100, 80, 100, margin=0.0)
    se = math.sqrt(0.6 * 0.4 / 100 + 0.8 * 0.2 / 100)
    assert z == pytest.approx((0.6 - 0.8) / se)
    assert p == pytest.approx(norm.cdf((0.6 - 0.8) / se))
    assert round(p, 4) == 0.0008  # z = -3.16
    # A margin of 0.25 forgives the 0.2 difference: not significant.
    assert live_gate.two_proportion(60, 100, 80, 100, margin=0.25)[1] > 0.5
    # No spread on either side: the sign decides.
    assert live_gate.two_proportion(0, 50, 50, 50, margin=0.0) == (-math.inf, 0.0)


def test_mann_whitney_is_scipys_one_sided_test() -> None:
    rng = np.random.default_rng(3)
    worse, better = rng.exponential(2.0, 80), rng.exponential(1.0, 90)
    u, p = live_gate.mann_whitney(worse, better, margin=0.1)
    expected = mannwhitneyu(worse - 0.1, better, alternative="greater")
    assert (u, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert p < 0.05


def rows(hits: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"_predicted": ["a"] * n, "truth": ["a"] * hits + ["b"] * (n - hits)})


def test_verdicts() -> None:
    failed = live_gate.judge(
        "accuracy", rows(20, 40), rows(38, 40), min_rows=30, margin=0, alpha=0.05
    )
    assert failed.verdict == "failed"
    assert failed.message.startswith(
        "live gate: canary accuracy 0.500 (n=40) vs main accuracy 0.950 (n=40); "
        "one-sided two-proportion z="
    )
    passed = live_gate.judge(
        "accuracy", rows(37, 40), rows(38, 40), min_rows=30, margin=0, alpha=0.05
    )
    assert passed.verdict == "passed"
    waiting = live_gate.judge(
        "accuracy", rows(5, 10), rows(38, 40), min_rows=30, margin=0, alpha=0.05
    )
    assert waiting.verdict == "inconclusive"
    assert waiting.p_value is None
    assert "waiting for 30 labelled requests on each side" in waiting.message
    regression = pd.DataFrame({"_value": [1.0] * 40, "truth": [str(v) for v in [5.0] * 40]})
    good = pd.DataFrame({"_value": [1.0] * 40, "truth": ["1.1"] * 40})
    assert live_gate.judge("mae", regression, good, min_rows=30, margin=0, alpha=0.05).verdict == (
        "failed"
    )


SPEC = CanarySpec.model_validate(
    {"steps": [50, 100], "liveGate": {"minLabelledRows": 30, "maxWait": "5m"}}
)
STATE = CanaryState(weight=50, step=0, last_step_time=NOW - timedelta(minutes=1))
OK = [CheckResult("request-success-rate", 1.0, True, "ok")]


def test_too_few_labels_hold_the_step_then_max_wait_rolls_back() -> None:
    first = canary.decide(STATE, SPEC, OK, now=NOW, awaiting="waiting for labels")
    assert (first.action, first.reason) == ("Hold", "AwaitingLabels")
    later = canary.decide(
        first.state, SPEC, OK, now=NOW + timedelta(minutes=4), awaiting="waiting for labels"
    )
    assert later.action == "Hold"
    assert later.state.holding_since == NOW  # the wait counts from the first hold
    ended = canary.decide(
        later.state, SPEC, OK, now=NOW + timedelta(minutes=5), awaiting="waiting for labels"
    )
    assert (ended.action, ended.reason) == ("RollBack", "LabelsMissing")
    assert ended.message.startswith("Rolled back by onMaxWait=rollback: not enough labels")


def test_a_failed_check_is_not_hidden_by_waiting_for_labels() -> None:
    bad = [CheckResult("request-success-rate", 0.5, False, "success rate 0.5 < 0.99")]
    decision = canary.decide(STATE, SPEC, bad, now=NOW, awaiting="waiting for labels")
    assert decision.reason in ("CheckFailed", "AnalysisFailed")


SHADOW = CanarySpec.model_validate(
    {"strategy": "shadow", "steps": [25, 100], "liveGate": {"minLabelledRows": 10}}
)


def test_a_shadow_starts_at_no_traffic_and_promotes_once_the_gate_passes() -> None:
    started = canary.start(SHADOW, has_serving=True, now=NOW)
    assert (started.action, started.reason) == ("Advance", "ShadowStarted")
    assert (started.state.shadow, started.state.weight) == (True, 0)
    assert canary.predictor_of(started.state) == "shadow"
    ready = canary.wait_for_predictor(started.state, SHADOW, ready=True, failed=None, now=NOW)
    assert ready is not None
    waiting = canary.decide(ready.state, SHADOW, [], now=NOW, awaiting="too few labels")
    assert waiting.reason == "AwaitingLabels"
    gate = CheckResult("live-gate", 0.9, True, "live gate: ... passed")
    done = canary.decide(waiting.state, SHADOW, [gate], now=NOW + timedelta(seconds=40))
    assert (done.action, done.reason, done.state.weight) == ("Promote", "Promoted", 100)
    failed = CheckResult("live-gate", 0.001, False, "live gate: worse")
    strict = SHADOW.model_copy(update={"max_failed_checks": 0})
    assert canary.decide(ready.state, strict, [failed], now=NOW).action == "RollBack"


def test_after_a_shadow_the_progressive_steps_can_follow() -> None:
    spec = SHADOW.model_copy(update={"after_shadow": "progressive"})
    state = CanaryState(weight=0, step=0, shadow=True, last_step_time=NOW)
    gate = CheckResult("live-gate", 0.9, True, "passed")
    moved = canary.decide(state, spec, [gate], now=NOW)
    assert (moved.action, moved.state.shadow, moved.state.weight) == ("Advance", False, 25)
    assert moved.state.holding == canary.STARTING  # waits for the canary predictor
    assert canary.predictor_of(moved.state) == "canary"
