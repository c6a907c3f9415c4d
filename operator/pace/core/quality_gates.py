"""Quality gates: metric bounds, improvement over the serving version, fairness (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pace.api.mlmodel import QualityGates
from pace.core import evaluation


@dataclass
class GateVerdict:
    """Whether a candidate may be rolled out, and every check made."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SAME_TEST_SET = "on this run's test set"
RECORDED = "as recorded when it was trained"


def evaluate_gates(
    metrics: dict[str, float],
    gates: QualityGates,
    *,
    task: str,
    serving_metrics: dict[str, float] | None,
    serving_basis: str = RECORDED,
) -> GateVerdict:
    """Apply every gate; a failure message names the gate, the value and the bound.

    ``serving_metrics`` are the serving version's, on ``serving_basis``: this run's test set
    (`SAME_TEST_SET`, the fair comparison) or what was recorded when it was trained
    (`RECORDED`)."""
    failures: list[str] = []
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, message: str) -> None:
        checks.append({"gate": name, "passed": ok, "message": message})
        if not ok:
            failures.append(message)

    for gate in gates.metrics:
        value = metrics.get(gate.metric)
        if value is None:
            check(
                f"metric:{gate.metric}",
                False,
                f"metric {gate.metric!r} was not computed (have {sorted(metrics)})",
            )
            continue
        if gate.min is not None:
            check(
                f"min:{gate.metric}",
                value >= gate.min,
                f"{gate.metric} {value:.4f} {'>=' if value >= gate.min else '<'} min {gate.min}",
            )
        if gate.max is not None:
            check(
                f"max:{gate.metric}",
                value <= gate.max,
                f"{gate.metric} {value:.4f} {'<=' if value <= gate.max else '>'} max {gate.max}",
            )
    primary = evaluation.primary_metric(task, gates.primary_metric)
    if serving_metrics and primary in serving_metrics and primary in metrics:
        delta = metrics[primary] - serving_metrics[primary]
        if primary in evaluation.LOWER_IS_BETTER:
            delta = -delta
        check(
            "minDelta",
            delta >= gates.min_delta,
            f"{primary} improvement {delta:+.4f} over the serving version "
            f"({metrics[primary]:.4f} vs {serving_metrics[primary]:.4f} {serving_basis}) "
            f"{'>=' if delta >= gates.min_delta else '<'} minDelta {gates.min_delta}",
        )
    if gates.fairness is not None:
        value = metrics.get(gates.fairness.metric)
        if value is None:
            check(
                "fairness",
                False,
                f"fairness metric {gates.fairness.metric!r} not computed "
                f"(is {gates.fairness.sensitive_feature!r} a feature?)",
            )
        else:
            check(
                "fairness",
                value <= gates.fairness.max_disparity,
                f"{gates.fairness.metric} {value:.4f} "
                f"{'<=' if value <= gates.fairness.max_disparity else '>'} "
                f"maxDisparity {gates.fairness.max_disparity}",
            )
    return GateVerdict(passed=not failures, failures=failures, checks=checks)
