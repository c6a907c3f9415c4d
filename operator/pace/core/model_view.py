"""What `pace get MODEL` prints (pure): a model at a glance, like Argo Rollouts' `get rollout`.

The versions with their stages and metrics, the canary's weight, step and last checks, the
training run, live quality, drift, and the conditions, all from the MLModel object the API
server stored (no other source, so `--watch` redraws from each watch event alone).
"""

from __future__ import annotations

from datetime import datetime

from pace.api.mlmodel import MLModel, VersionRecord
from pace.core import tables

_STAGE_ORDER = {
    "canary": 0,
    "production": 1,
    "candidate": 2,
    "archived": 3,
    "rejected": 4,
    "superseded": 5,
}
_VERSION_METRICS = ("accuracy", "f1_macro", "r2", "rmse")


def age(when: datetime | None, now: datetime) -> str:
    """kubectl's age: 45s, 3m, 2h, 4d ("-" when unknown)."""
    if when is None:
        return "-"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _canary_line(model: MLModel, now: datetime) -> list[str]:
    status = model.status
    canary = status.canary
    if status.candidate_version is None or canary is None:
        return []
    steps = list(model.spec.serving.canary.steps)
    shown = f"step {canary.step + 1} of {len(steps)}" if steps else "no steps"
    kind = "shadow" if canary.shadow else f"{canary.weight} %"
    lines = [
        f"Canary:        {status.candidate_version} at {kind} ({shown}); checks "
        f"{canary.checks_passed} passed, {canary.checks_failed} failed; last check "
        f"{age(canary.last_check_time, now)} ago"
    ]
    if canary.holding:
        lines.append(f"               holding {age(canary.holding_since, now)}: {canary.holding}")
    if (gate := canary.live) is not None:
        lines.append(
            f"               live gate {gate.verdict}: {gate.metric} canary "
            f"{_figure(gate.canary)} ({gate.rows_canary} rows) vs main {_figure(gate.main)} "
            f"({gate.rows_main} rows)"
        )
    return lines


def _training_line(model: MLModel, now: datetime) -> list[str]:
    run = model.status.training
    if run is None:
        return []
    where = f" at {run.step}" if run.step and run.state in ("Pending", "Running") else ""
    extra = []
    if run.attempts > 1:
        extra.append(f"attempt {run.attempts}")
    if run.retries:
        extra.append(f"retry {run.retries}")
    if run.position:
        extra.append(f"#{run.position} in queue")
    more = f" ({', '.join(extra)})" if extra else ""
    lines = [
        f"Training:      {run.version} {run.state}{where}{more}, {run.trigger}, started "
        f"{age(run.started_at, now)} ago"
    ]
    if run.message and run.state not in ("Succeeded",):
        lines.append(f"               {run.message[:300]}")
    return lines


def _live_line(model: MLModel) -> list[str]:
    serving = _version(model, model.status.serving_version)
    if serving is None or serving.live is None:
        labels = model.status.live_quality
        return [f"Live quality:  {labels.summary}"] if labels and labels.summary else []
    live = serving.live
    figures = ", ".join(f"{k} {_figure(v)}" for k, v in sorted(live.metrics.items()))
    bounds = ""
    if live.interval is not None:
        bounds = f", {live.interval.metric} in [{live.interval.low:.3g}, {live.interval.high:.3g}]"
    return [
        f"Live quality:  {serving.version}: {figures} over {live.rows} rows ({live.window}{bounds})"
    ]


def _drift_line(model: MLModel) -> list[str]:
    cond = next((c for c in model.status.conditions if c.type == "DriftDetected"), None)
    if cond is None:
        return []
    return [f"Drift:         {cond.status} ({cond.reason}): {cond.message[:200]}"]


def _batch_line(model: MLModel, now: datetime) -> list[str]:
    batch = model.status.batch
    if batch is None:
        return []
    lines = [f"Batch:         next {batch.next_run_at:%Y-%m-%d %H:%M} UTC ({batch.schedule})"]
    last = batch.last
    if last is not None:
        ended = f", {age(last.finished_at, now)} ago" if last.finished_at else ""
        lines.append(f"               last {last.state}{ended}: {(last.message or '')[:200]}")
        lines += [f"               failed {f.file}: {f.message[:120]}" for f in last.failures[:3]]
    return lines


def _version(model: MLModel, version: str | None) -> VersionRecord | None:
    return next((v for v in model.status.versions if v.version == version), None)


def version_rows(model: MLModel, now: datetime) -> tuple[list[str], list[list[str]]]:
    """The versions table: newest first within stage order (canary, production, ...)."""
    present = [m for m in _VERSION_METRICS if any(m in v.metrics for v in model.status.versions)]
    columns = ["VERSION", "STAGE", *(m.upper() for m in present), "LIVE", "TRIGGER", "AGE"]
    ordered = sorted(
        model.status.versions,
        key=lambda v: (_STAGE_ORDER.get(v.stage, 9), -_number(v.version)),
    )
    rows = []
    for v in ordered:
        live = "-"
        if v.live is not None and v.live.metrics:
            name, value = sorted(v.live.metrics.items())[0]
            live = f"{name} {_figure(value)} ({v.live.rows})"
        stage: str = v.stage
        if v.version == model.status.candidate_version and model.status.canary is not None:
            stage = f"{v.stage} {model.status.canary.weight}%"
        rows.append(
            [
                v.version,
                stage,
                *(_figure(v.metrics.get(m)) for m in present),
                live,
                (v.trigger or "-")[:40],
                age(v.created_at, now),
            ]
        )
    return columns, rows


def _number(version: str) -> int:
    digits = version.lstrip("v")
    return int(digits) if digits.isdigit() else 0


def render(model: MLModel, *, now: datetime) -> str:
    """The whole view as text (ends with a newline)."""
    status = model.status
    head = [
        f"Name:          {model.name}",
        f"Namespace:     {model.namespace}",
        f"Phase:         {status.phase or '-'}",
        f"Serving:       {status.serving_version or '-'}"
        + (f"   Candidate: {status.candidate_version}" if status.candidate_version else ""),
    ]
    if status.endpoint:
        head.append(f"Endpoint:      {status.endpoint}")
    body = [
        *_canary_line(model, now),
        *_training_line(model, now),
        *_live_line(model),
        *_drift_line(model),
        *_batch_line(model, now),
    ]
    out = "\n".join(head) + "\n"
    if body:
        out += "\n" + "\n".join(body) + "\n"
    if status.versions:
        columns, rows = version_rows(model, now)
        out += "\n" + tables.format_table(columns, rows)
    else:
        out += "\nNo versions yet.\n"
    if status.conditions:
        rows = [
            [c.type, c.status, c.reason, age(c.last_transition_time, now), c.message[:80]]
            for c in status.conditions
        ]
        out += "\n" + tables.format_table(["CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"], rows)
    return out
