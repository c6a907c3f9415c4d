"""PACE's Prometheus alerting rules (pure): one source for the rules file the local Prometheus
loads, the chart's PrometheusRule, and `promtool`'s checks.

`pace alerts --out DIR` writes ``pace-alerts.rules.yaml`` (``--check`` fails when it is stale);
the Makefile writes it to ``manifests/alerts/`` and ``charts/pace/files/``. Each rule's
expression reads only metrics the operator exports (`pace.adapters.metrics`) and the ``up``
series of its scrape job, named ``pace-operator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

FILE_NAME = "pace-alerts.rules.yaml"
OPERATOR_JOB = "pace-operator"


@dataclass(frozen=True)
class Thresholds:
    """How long a condition must hold, or how far back a count looks, before an alert."""

    drift_for: str = "15m"  # drift reported by every check for this long
    rollback_window: str = "30m"  # a rollback keeps its alert this long
    pipeline_window: str = "1h"  # failed runs counted over this window
    live_quality_for: str = "15m"
    operator_down_for: str = "5m"
    reconcile_errors_per_second: float = 0.05
    reconcile_errors_for: str = "10m"
    sink_full_share: float = 0.8
    sink_for: str = "2m"


def rules(t: Thresholds | None = None) -> dict[str, Any]:
    """The rules file as a dict: one group, ``pace``."""
    t = t or Thresholds()
    job = f'job="{OPERATOR_JOB}"'
    return {
        "groups": [
            {
                "name": "pace",
                "rules": [
                    {
                        "alert": "PaceDriftDetected",
                        "expr": "max by (namespace, monitor) (pace_drift_detected) == 1",
                        "for": t.drift_for,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "Drift on {{ $labels.namespace }}/{{ $labels.monitor }}",
                            "description": (
                                "DriftMonitor {{ $labels.namespace }}/{{ $labels.monitor }} has "
                                f"reported drift at every check for {t.drift_for}. "
                                "kubectl describe driftmonitor {{ $labels.monitor }} -n "
                                "{{ $labels.namespace }} names the features."
                            ),
                        },
                    },
                    {
                        "alert": "PaceCanaryRolledBack",
                        "expr": (
                            "sum by (namespace, model) (increase(pace_rollouts_total"
                            f'{{result="rolled_back"}}[{t.rollback_window}])) > 0'
                        ),
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "Canary of {{ $labels.namespace }}/{{ $labels.model }} "
                            "rolled back",
                            "description": (
                                "A canary of MLModel {{ $labels.namespace }}/{{ $labels.model }} "
                                f"was rolled back in the last {t.rollback_window}; "
                                "pace history {{ $labels.model }} -n {{ $labels.namespace }} "
                                "says why."
                            ),
                        },
                    },
                    {
                        "alert": "PacePipelineFailed",
                        "expr": (
                            "sum by (namespace, model) (increase(pace_pipeline_runs_total"
                            f'{{result="failed"}}[{t.pipeline_window}])) > 0'
                        ),
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "Training of {{ $labels.namespace }}/{{ $labels.model }} "
                            "failed",
                            "description": (
                                "{{ $value | humanize }} training run(s) of MLModel "
                                "{{ $labels.namespace }}/{{ $labels.model }} failed in the last "
                                f"{t.pipeline_window}; its Trained condition names the step."
                            ),
                        },
                    },
                    {
                        "alert": "PaceLiveQualityBelowGate",
                        "expr": (
                            '(pace_live_metric{predictor="main"} < on (namespace, model, metric) '
                            'group_left () pace_quality_gate{bound="min"}) or '
                            '(pace_live_metric{predictor="main"} > on (namespace, model, metric) '
                            'group_left () pace_quality_gate{bound="max"})'
                        ),
                        "for": t.live_quality_for,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.namespace }}/{{ $labels.model }} "
                            "{{ $labels.version }}: live {{ $labels.metric }} outside its gate",
                            "description": (
                                "Live {{ $labels.metric }} of {{ $labels.namespace }}/"
                                "{{ $labels.model }} {{ $labels.version }} is {{ $value }}, "
                                "outside the bound its quality gate sets, for "
                                f"{t.live_quality_for}."
                            ),
                        },
                    },
                    {
                        "alert": "PaceOperatorDown",
                        "expr": f"up{{{job}}} == 0 or absent(up{{{job}}})",
                        "for": t.operator_down_for,
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "The PACE operator is down",
                            "description": (
                                "Prometheus has not scraped the PACE operator (job "
                                f"{OPERATOR_JOB}) for {t.operator_down_for}: no training, "
                                "rollout, drift check or retrain happens."
                            ),
                        },
                    },
                    {
                        "alert": "PaceReconcileErrors",
                        "expr": (
                            "sum by (kind, reason) (rate(pace_reconcile_errors_total[5m])) > "
                            f"{t.reconcile_errors_per_second}"
                        ),
                        "for": t.reconcile_errors_for,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "PACE reconcile errors ({{ $labels.kind }}, "
                            "{{ $labels.reason }})",
                            "description": (
                                '{{ $value | printf "%.2f" }} reconcile errors per second for '
                                "{{ $labels.kind }} ({{ $labels.reason }}) over "
                                f"{t.reconcile_errors_for}; the operator's log and the objects' "
                                "events say which."
                            ),
                        },
                    },
                    {
                        "alert": "PaceInferenceSinkBackpressure",
                        "expr": (
                            "pace_inference_sink_buffered_rows / pace_inference_sink_capacity_rows "
                            f"> {t.sink_full_share}"
                        ),
                        "for": t.sink_for,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "The inference log sink is nearly full",
                            "description": (
                                "The sink has held {{ $value | humanizePercentage }} of its "
                                f"buffer for {t.sink_for}: the store is not taking writes; "
                                "predictors get 503 once it is full."
                            ),
                        },
                    },
                ],
            }
        ]
    }


def rules_text(t: Thresholds | None = None) -> str:
    header = (
        "# Generated by `pace alerts` from pace.core.alert_rules; do not edit by hand.\n"
        "# Checked by `promtool check rules` and `promtool test rules` (tests/alerts/).\n"
    )
    return header + yaml.safe_dump(rules(t), sort_keys=False, width=100)
