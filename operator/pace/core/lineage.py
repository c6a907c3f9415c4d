"""The lineage record of a version: data, spec, params, metrics, packages, run, trigger (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def lineage_record(
    *,
    namespace: str,
    model: str,
    version: str,
    run: str,
    trigger: str,
    dataset_uri: str,
    data_hash: str,
    spec_hash: str,
    data_parts: dict[str, Any] | None = None,
    algorithm: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    gates: dict[str, Any],
    artifacts: dict[str, str],
    packages: dict[str, str],
    created_at: datetime,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to say where a version came from and to reproduce it. ``source``:
    how the model came to be — trained by this run, or imported (uri, sha256, class)."""
    return {
        "apiVersion": "mlops.pace.dev/lineage/v1",
        "namespace": namespace,
        "model": model,
        "version": version,
        "pipelineRun": run,
        "trigger": trigger,
        "data": {"uri": dataset_uri, "hash": data_hash, **(data_parts or {})},
        "specHash": spec_hash,
        "algorithm": algorithm,
        "params": params,
        "source": source or {"kind": "trained"},
        "metrics": metrics,
        "gates": gates,
        "artifacts": artifacts,
        "packages": packages,
        "createdAt": created_at.isoformat(),
    }


VERSION_COLUMNS = ("VERSION", "CREATED", "TRIGGER", "METRICS", "DATA", "RUN")


def version_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """`pace versions` table rows from lineage records."""
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        shown = ", ".join(f"{k}={float(v):.3f}" for k, v in sorted(metrics.items())[:2])
        data = r.get("data") or {}
        recent = (data.get("recent") or {}).get("rows")
        rows.append(
            [
                str(r.get("version", "")),
                str(r.get("createdAt", ""))[:19].replace("T", " "),
                _origin(r)[:40],
                shown,
                f"{recent} recent rows" if recent else str(data.get("uri", "")),
                str(r.get("pipelineRun", "")),
            ]
        )
    return rows


def _origin(record: dict[str, Any]) -> str:
    """The TRIGGER column: why the run happened, and "imported" for a model from spec.model."""
    trigger = str(record.get("trigger", ""))
    if (record.get("source") or {}).get("kind") == "imported":
        return f"{trigger} (imported)" if trigger else "imported"
    return trigger
