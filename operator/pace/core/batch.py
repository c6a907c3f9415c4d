"""Scheduled batch scoring (``spec.batch``): schedule, names, keys and which version scores
(pure). `pace.batch_scoring` does the scoring in the pipeline step; `pace.handlers.
mlmodel_batch` drives the runs."""

from __future__ import annotations

from datetime import datetime

from pace.api.mlmodel import BatchRun, BatchStatus, MLModel
from pace.core import triggers

INPUT_SUFFIXES = (".csv", ".parquet")
OUTPUT_SUFFIX = ".predictions.parquet"
BATCH_PREDICTOR = "batch"
"""The inference log's predictor folder for batch-scored rows (beside main and canary)."""
MAX_FAILURES = 20
POLL_SECONDS = 5.0
SCHEDULE_FIELD = "spec.batch.schedule"


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3://bucket/prefix/ URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def is_input(key: str) -> bool:
    """A file batch scoring reads: CSV or Parquet, never a predictions file."""
    return key.endswith(INPUT_SUFFIXES) and not key.endswith(OUTPUT_SUFFIX)


def output_key(input_key: str, *, input_prefix: str, output_prefix: str) -> str:
    """Where one input file's predictions go: its key relative to the input prefix, under the
    output prefix, with ``.predictions.parquet`` in place of its suffix."""
    relative = input_key.removeprefix(input_prefix)
    stem = relative.rsplit(".", 1)[0]
    return f"{output_prefix}{stem}{OUTPUT_SUFFIX}"


def run_name(model: MLModel, scheduled_at: datetime) -> str:
    """Deterministic per schedule time: a restarted operator finds the same run."""
    return f"{model.name}-batch-{model.uid[:6]}-{scheduled_at:%Y%m%d%H%M}"


def report_key(namespace: str, model: str, uid: str, run: str) -> str:
    """The run's report in the operator's bucket (what the operator reads when it ends)."""
    return f"batch/{namespace}/{model}/{uid[:8]}/runs/{run}.json"


def next_run(cron: str, after: datetime) -> datetime:
    """The first schedule time after ``after``; an error naming spec.batch.schedule."""
    try:
        return triggers.next_schedule(cron, after)
    except triggers.InvalidSchedule as exc:
        message = str(exc).replace(triggers.SCHEDULE_FIELD, SCHEDULE_FIELD)
        raise triggers.InvalidSchedule(message) from None


def scoring_version(model: MLModel) -> tuple[str | None, str | None]:
    """(version that scores, why none can): ``serving`` is the version serving most traffic;
    ``vN`` must be a registered version that passed its gates."""
    assert model.spec.batch is not None
    wanted = model.spec.batch.version
    if wanted == "serving":
        if model.status.serving_version is None:
            return None, "nothing serves yet (spec.batch.version: serving)"
        return model.status.serving_version, None
    found = next((v for v in model.status.versions if v.version == wanted), None)
    if found is None:
        known = ", ".join(v.version for v in model.status.versions) or "none"
        return None, f"spec.batch.version {wanted!r} is not a version of this model ({known})"
    if found.stage in ("rejected", "superseded"):
        return None, f"spec.batch.version {wanted!r} is {found.stage}; it does not score"
    return wanted, None


def fresh_status(model: MLModel, *, now: datetime) -> BatchStatus | None:
    """The batch status to write when the schedule is new or changed (None: it stands)."""
    spec = model.spec.batch
    current = model.status.batch
    if spec is None or (current is not None and current.schedule == spec.schedule):
        return None
    return BatchStatus(
        schedule=spec.schedule,
        next_run_at=next_run(spec.schedule, now),
        last=current.last if current is not None else None,
    )


def in_flight(batch: BatchStatus | None) -> BatchRun | None:
    last = batch.last if batch is not None else None
    return last if last is not None and last.state in ("Pending", "Running") else None


def summary(report: dict[str, object]) -> str:
    """One line for status, events and the audit log."""
    files, rows = report.get("filesScored", 0), report.get("rowsScored", 0)
    skipped = report.get("filesSkipped", 0)
    failures = report.get("failures") or []
    text = f"{report.get('version')} scored {rows} rows in {files} new file(s)"
    if skipped:
        text += f"; {skipped} already scored"
    if isinstance(failures, list) and failures:
        text += f"; {len(failures)} file(s) failed"
    return text
