"""Canary analysis checks: render PromQL for a predictor and judge the values (pure).

The defaults use the Seldon executor's metric names, which the local router exposes too, so
the same queries work in a cluster and locally. Labels stay bounded: namespace,
deployment_name (the model), predictor_name (main or canary).
"""

from __future__ import annotations

from dataclasses import dataclass

from pace.api.mlmodel import AnalysisCheck, CanarySpec

_SELECTOR = 'namespace="$namespace",deployment_name="$model",predictor_name="$predictor"'
_COUNT = "seldon_api_executor_server_requests_seconds_count"
_BUCKET = "seldon_api_executor_server_requests_seconds_bucket"

DEFAULT_CHECKS = (
    AnalysisCheck(
        name="success-rate",
        query=(
            f'sum(rate({_COUNT}{{{_SELECTOR},code=~"2.."}}[$window])) / '
            f"sum(rate({_COUNT}{{{_SELECTOR}}}[$window]))"
        ),
        min=0.99,
    ),
    AnalysisCheck(
        name="latency-p99",
        query=(f"histogram_quantile(0.99, sum by (le) (rate({_BUCKET}{{{_SELECTOR}}}[$window])))"),
        max=0.5,
    ),
)


def checks_for(spec: CanarySpec) -> tuple[AnalysisCheck, ...]:
    """The spec's checks, or the defaults."""
    return tuple(spec.analysis) if spec.analysis else DEFAULT_CHECKS


def window_seconds(interval_seconds: float) -> int:
    """Rate window for one analysis: the interval, at least 10 s (several scrapes)."""
    return max(10, int(interval_seconds))


def window(interval_seconds: float) -> str:
    return f"{window_seconds(interval_seconds)}s"


def render(
    check: AnalysisCheck, *, namespace: str, model: str, predictor: str, interval_seconds: float
) -> str:
    """The check's PromQL with $namespace, $model, $predictor and $window substituted."""
    return (
        check.query.replace("$namespace", namespace)
        .replace("$model", model)
        .replace("$predictor", predictor)
        .replace("$window", window(interval_seconds))
    )


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome. ``value`` None means Prometheus returned no sample (no traffic)."""

    name: str
    value: float | None
    passed: bool
    message: str


def judge(check: AnalysisCheck, value: float | None) -> CheckResult:
    """Compare a value with the check's bounds."""
    if value is None or value != value:  # no sample, or NaN (0/0: no requests)
        return CheckResult(check.name, None, False, f"{check.name}: no data")
    if check.min is not None and value < check.min:
        return CheckResult(
            check.name, value, False, f"{check.name} {value:.4g} below min {check.min}"
        )
    if check.max is not None and value > check.max:
        return CheckResult(
            check.name, value, False, f"{check.name} {value:.4g} above max {check.max}"
        )
    return CheckResult(check.name, value, True, f"{check.name} {value:.4g} ok")
