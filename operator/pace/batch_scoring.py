"""Batch scoring, run by the ``score_batch`` pipeline step: the new files under an s3://
prefix scored by one registered version, predictions written under the output prefix, the
scored rows appended to the model's inference log (predictor ``batch``), and a report.

A file is new when its predictions file does not exist yet, so a run that is retried or
resubmitted scores only what is left, and the next scheduled run only what arrived since. A
file that cannot be scored (unreadable, a feature missing) is reported with its message and
left for the next run; the others go on. The model loads once per run.

The step runs with the pipeline step's store settings (`S3Settings.from_env`); the operator
has checked that input and output are places its keys may read and write for the model's
namespace (`pace.core.uri_policy`).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

from pace.adapters.object_store import ObjectStore, S3Settings, read_uri, store_for
from pace.core import batch, datasets, inference_records
from pace.core.pipeline_plan import BatchRequest


def features_of(model: Any, job: BatchRequest, columns: list[str]) -> list[str]:
    """The columns the model takes: spec.dataset.features, else what it was fitted on, else
    every column but the target."""
    if job.features:
        return list(job.features)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [c for c in columns if c != job.target]


def predictions(
    model: Any, frame: Any, job: BatchRequest
) -> tuple[Any, list[dict[str, Any]], list[str]]:
    """The output frame (the input's columns, ``prediction``, class probabilities
    ``proba_<class>``, ``_version``, ``_run``), the inference log's response rows, and the
    feature columns scored."""
    columns = features_of(model, job, list(frame.columns))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"missing feature column(s) {', '.join(missing)}")
    X = frame[columns]
    out = frame.copy()
    out["prediction"] = model.predict(X)
    answers: list[dict[str, Any]]
    if job.task == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        classes = [str(c) for c in model.classes_]
        for i, name in enumerate(classes):
            out[f"proba_{name}"] = proba[:, i]
        answers = [
            {"prediction": json.dumps([float(v) for v in row])}
            | inference_records.answer([float(v) for v in row], classes)
            for row in proba
        ]
    else:
        answers = [
            {"prediction": json.dumps([float(v)])} | inference_records.answer([float(v)], [])
            for v in out["prediction"]
        ]
    out["_version"] = job.version
    out["_run"] = job.run_name
    return out, answers, columns


def _log_rows(
    frame: Any,
    answers: list[dict[str, Any]],
    columns: list[str],
    job: BatchRequest,
    *,
    key: str,
    ts: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Request and response rows as the sink writes them: one request id per file and run."""
    request_id = f"batch-{job.run_name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    meta = {"_id": request_id, "_ts": ts, "_version": job.version, "_source": f"batch:{key}"}
    requests = [
        meta | {"_index": i} | {c: row[c] for c in columns}
        for i, row in enumerate(frame[columns].to_dict("records"))
    ]
    responses = [meta | {"_index": i} | answer for i, answer in enumerate(answers)]
    return requests, responses


def _parquet(rows: Any) -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    (rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)).to_parquet(buf, index=False)
    return buf.getvalue()


def score(
    job: BatchRequest, settings: S3Settings, *, now: datetime | None = None
) -> dict[str, Any]:
    """Score the new files; write predictions, log rows and the report; return the report."""
    import joblib

    started = time.monotonic()
    in_bucket, in_prefix = batch.split_uri(job.input_uri)
    out_bucket, out_prefix = batch.split_uri(job.output_uri)
    source, sink, own = (
        store_for(settings, in_bucket),
        store_for(settings, out_bucket),
        ObjectStore(settings),
    )
    inputs = sorted(k for k in source.list(in_prefix) if batch.is_input(k))
    done = set(sink.list(out_prefix))
    model = joblib.load(io.BytesIO(read_uri(job.model_uri, settings)))
    scored: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    skipped = 0
    for key in inputs:
        target = batch.output_key(key, input_prefix=in_prefix, output_prefix=out_prefix)
        if target in done:
            skipped += 1
            continue
        uri = f"s3://{in_bucket}/{key}"
        try:
            fmt = "csv" if key.endswith(".csv") else "parquet"
            frame = datasets.read_bytes(source.get(key), fmt)
            out, answers, columns = predictions(model, frame, job)
            ts = (now or datetime.now(UTC)).timestamp()
            requests, responses = _log_rows(frame, answers, columns, job, key=uri, ts=ts)
            at = datetime.fromtimestamp(ts, tz=UTC)
            for kind, rows in (("request", requests), ("response", responses)):
                stream = inference_records.Stream(
                    job.namespace, job.model_name, batch.BATCH_PREDICTOR, kind
                )
                own.put(inference_records.object_key(stream, at=at), _parquet(rows))
            # The predictions file last: it is what marks the file scored.
            sink.put(target, _parquet(out))
        except Exception as exc:  # this file is reported and left for the next run
            failures.append({"file": uri, "message": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        scored.append({"input": uri, "output": f"s3://{out_bucket}/{target}", "rows": len(out)})
        print(f"scored {uri}: {len(out)} rows -> s3://{out_bucket}/{target}")
    report: dict[str, Any] = {
        "apiVersion": "mlops.pace.dev/batch/v1",
        "namespace": job.namespace,
        "model": job.model_name,
        "run": job.run_name,
        "version": job.version,
        "modelUri": job.model_uri,
        "input": job.input_uri,
        "output": job.output_uri,
        "files": scored,
        "filesScored": len(scored),
        "filesSkipped": skipped,
        "rowsScored": sum(int(f["rows"]) for f in scored),
        "failures": failures,
        "seconds": round(time.monotonic() - started, 3),
        "finishedAt": datetime.now(UTC).isoformat(),
    }
    own.put_json(
        batch.report_key(job.namespace, job.model_name, job.model_uid, job.run_name), report
    )
    print(batch.summary(report))
    return report
