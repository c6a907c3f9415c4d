"""Rendering and judging the canary's PromQL checks."""

import math

from pace.api.mlmodel import AnalysisCheck, CanarySpec
from pace.core import analysis_queries, durations


def test_defaults_use_seldon_executor_metrics_for_one_predictor() -> None:
    checks = analysis_queries.checks_for(CanarySpec())
    assert [c.name for c in checks] == ["success-rate", "latency-p99"]
    query = analysis_queries.render(
        checks[0], namespace="ns", model="wine", predictor="canary", interval_seconds=5
    )
    assert "seldon_api_executor_server_requests_seconds_count" in query
    assert 'namespace="ns",deployment_name="wine",predictor_name="canary"' in query
    assert "[10s]" in query
    assert "$" not in query


def test_judge() -> None:
    check = AnalysisCheck(name="sr", query="x", min=0.99)
    assert analysis_queries.judge(check, 1.0).passed
    low = analysis_queries.judge(check, 0.5)
    assert not low.passed
    assert "below min 0.99" in low.message
    assert analysis_queries.judge(check, None).value is None
    assert analysis_queries.judge(check, math.nan).value is None
    high = analysis_queries.judge(AnalysisCheck(name="p99", query="x", max=0.5), 2.0)
    assert "above max 0.5" in high.message


def test_durations() -> None:
    assert durations.seconds("1h30m") == 5400
    assert durations.seconds("500ms") == 0.5
    import pytest

    with pytest.raises(ValueError, match="not a duration"):
        durations.seconds("5 minutes")
