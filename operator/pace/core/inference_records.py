"""Seldon request-logger CloudEvents to rows, and where their batches are stored (pure).

Used by the inference log sink. A request event carries the model inputs (``data.ndarray``
with optional ``data.names``); a response event carries the outputs. Rows keep the event id,
so requests and responses can be joined later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PREFIX = "inference-logs"
REQUIRED_HEADERS = ("ce-id", "ce-type", "ce-namespace", "ce-inferenceservicename")


class EventError(ValueError):
    """A malformed event; the message names what is wrong (answered with HTTP 400)."""


@dataclass(frozen=True)
class Stream:
    """Where one kind of record of one predictor goes."""

    namespace: str
    model: str
    predictor: str
    kind: str  # request | response


def parse(
    headers: Mapping[str, str], body: bytes, *, received: datetime
) -> tuple[Stream, list[dict[str, Any]]]:
    """The stream and rows of one CloudEvent (binary content mode)."""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in REQUIRED_HEADERS if not lower.get(h)]
    if missing:
        raise EventError(f"missing CloudEvent header(s): {', '.join(missing)}")
    ce_type = lower["ce-type"]
    if ce_type.endswith(".request"):
        kind = "request"
    elif ce_type.endswith(".response"):
        kind = "response"
    else:
        raise EventError(f"ce-type {ce_type!r} is neither a request nor a response")
    try:
        payload = json.loads(body)
    except ValueError:
        raise EventError("body is not JSON") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("ndarray"), list):
        raise EventError("body has no data.ndarray list")
    matrix = data["ndarray"]
    if not all(isinstance(r, list) for r in matrix):
        raise EventError("data.ndarray must be a list of rows")
    width = {len(r) for r in matrix}
    if len(width) > 1:
        raise EventError(f"rows of data.ndarray have different lengths {sorted(width)}")
    names = [str(n) for n in data.get("names") or []]
    if names and width and names.__len__() != next(iter(width)):
        raise EventError(f"{len(names)} names for rows of {next(iter(width))} values")
    stream = Stream(
        namespace=lower["ce-namespace"],
        model=lower["ce-inferenceservicename"],
        predictor=lower.get("ce-endpoint") or "default",
        kind=kind,
    )
    ts = received.timestamp()
    rows: list[dict[str, Any]] = []
    for index, values in enumerate(matrix):
        row: dict[str, Any] = {"_id": lower["ce-id"], "_index": index, "_ts": ts}
        if kind == "request":
            columns = names or [f"f{i}" for i in range(len(values))]
            row |= dict(zip(columns, values, strict=True))
        else:
            row["prediction"] = json.dumps(values)
        rows.append(row)
    return stream, rows


def object_key(stream: Stream, *, at: datetime) -> str:
    """Time-partitioned, sortable key of one batch (epoch milliseconds first)."""
    return (
        f"{PREFIX}/{stream.namespace}/{stream.model}/{stream.predictor}/{stream.kind}s/"
        f"date={at:%Y-%m-%d}/{int(at.timestamp() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        ".parquet"
    )


def model_prefix(namespace: str, model: str) -> str:
    """Prefix of every logged batch of a model (all predictors)."""
    return f"{PREFIX}/{namespace}/{model}/"


def batch_millis(key: str) -> int:
    """Epoch milliseconds encoded in a batch key (0 when absent)."""
    name = key.rsplit("/", 1)[-1]
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0
