"""Seldon request-logger CloudEvents and labels to rows, and where their batches are stored
(pure).

Used by the inference log sink. Seldon's executor logs, per prediction, a request event (the
model inputs: ``data.ndarray`` with optional ``data.names``) and a response event (the
outputs), each with its own ``Ce-Id`` and both with ``Ce-Requestid`` = the prediction's puid
(``meta.puid`` in the response a client gets); a feedback call is logged as a third type
carrying ``truth``. Rows are keyed by (``_id`` = the puid, ``_index`` = the row in the
request), so predictions and labels join on it. The logger URL PACE gives each predictor ends
in ``versions/<version>``: rows carry ``_version``, the version that answered.

Label rows (``kind`` label) come from feedback events, from the labels API (a batch of
``{id, truth, index}``) and hold ``truth`` as text (class names are text; a regression
target is parsed back to a number when joined).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = "inference-logs"
REQUIRED_HEADERS = ("ce-id", "ce-type", "ce-namespace", "ce-inferenceservicename")
MAX_LABELS = 10_000  # per labels-API call
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


# Columns the sink writes itself; no feature may take one of these names.
ROW_COLUMNS = frozenset({"_id", "_index", "_ts", "_version", "_source", "truth", "prediction"})


class EventError(ValueError):
    """A malformed event; the message names what is wrong (answered with HTTP 400)."""


@dataclass(frozen=True)
class Stream:
    """Where one kind of record of one predictor goes."""

    namespace: str
    model: str
    predictor: str
    kind: str  # request | response | label


def version_of(path: str) -> str | None:
    """The version named by a logger URL's path (``.../versions/<version>``), if any."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "versions":
        return parts[-1]
    return None


def parse(
    headers: Mapping[str, str], body: bytes, *, received: datetime, path: str = ""
) -> tuple[Stream, list[dict[str, Any]]]:
    """The stream and rows of one CloudEvent (binary content mode) posted to ``path``."""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in REQUIRED_HEADERS if not lower.get(h)]
    if missing:
        raise EventError(f"missing CloudEvent header(s): {', '.join(missing)}")
    ce_type = lower["ce-type"]
    kinds = {".request": "request", ".response": "response", ".feedback": "label"}
    kind = next((k for suffix, k in kinds.items() if ce_type.endswith(suffix)), None)
    if kind is None:
        raise EventError(f"ce-type {ce_type!r} is neither a request, a response nor feedback")
    payload = _json(body)
    namespace, model = lower["ce-namespace"], lower["ce-inferenceservicename"]
    request_id = lower.get("ce-requestid") or lower["ce-id"]
    ts = received.timestamp()
    if kind == "label":
        return Stream(namespace, model, "", "label"), feedback_rows(payload, request_id, ts)
    matrix, names = _matrix(payload, "body")
    if kind == "request":
        _feature_names(names, "body")
    stream = Stream(
        namespace=namespace,
        model=model,
        predictor=lower.get("ce-endpoint") or "default",
        kind=kind,
    )
    version = version_of(path)
    rows: list[dict[str, Any]] = []
    for index, values in enumerate(matrix):
        row: dict[str, Any] = {"_id": request_id, "_index": index, "_ts": ts}
        if version is not None:
            row["_version"] = version
        if kind == "request":
            columns = names or [f"f{i}" for i in range(len(values))]
            row |= dict(zip(columns, values, strict=True))
        else:
            row["prediction"] = json.dumps(values)
            row |= answer(values, names)
        rows.append(row)
    return stream, rows


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise EventError("body is not JSON") from None


def _matrix(message: Any, where: str) -> tuple[list[list[Any]], list[str]]:
    """``data.ndarray`` rows and ``data.names`` of a Seldon message (1-D data: one value a
    row)."""
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("ndarray"), list):
        raise EventError(f"{where} has no data.ndarray list")
    matrix = [r if isinstance(r, list) else [r] for r in data["ndarray"]]
    width = {len(r) for r in matrix}
    if len(width) > 1:
        raise EventError(f"rows of {where} data.ndarray have different lengths {sorted(width)}")
    names = [str(n) for n in data.get("names") or []]
    if names and width and len(names) != next(iter(width)):
        raise EventError(f"{len(names)} names for rows of {next(iter(width))} values in {where}")
    return matrix, names


def _feature_names(names: list[str], where: str) -> None:
    """Feature names must not take a column the sink writes itself."""
    reserved = sorted(set(names) & ROW_COLUMNS)
    if reserved:
        raise EventError(f"{where} data.names uses reserved column name(s) {', '.join(reserved)}")


def answer(values: list[Any], names: list[str]) -> dict[str, Any]:
    """What a response row answered: class probabilities (``names`` are the classes, as
    PaceModel's ``class_names``) give ``_predicted`` (the likeliest class) and ``_p:<class>``
    columns; one number gives ``_value``."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(values) or not values:
        return {}
    if len(names) == len(values) and names != ["prediction"] and len(values) > 1:
        best = max(range(len(values)), key=lambda i: values[i])
        return {"_predicted": names[best]} | {
            f"_p:{n}": float(v) for n, v in zip(names, values, strict=True)
        }
    if len(values) == 1:
        return {"_value": float(values[0])}
    return {}


def truth_text(value: Any, where: str) -> str:
    """A label as text: integral numbers without a fraction (class 1, not 1.0), so they equal
    the class names the model answers with."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise EventError(f"{where} must be one number or string, got {json.dumps(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(f"{where} must be finite, got {value}")
        if value.is_integer():
            return str(int(value))
    return str(value)


def feedback_rows(payload: Any, request_id: str, ts: float) -> list[dict[str, Any]]:
    """Label rows of a Seldon feedback message: ``truth`` rows, keyed by the answered
    prediction's ``response.meta.puid`` (else the feedback call's own puid); the request's
    features ride along when the feedback carries them."""
    if not isinstance(payload, dict) or "truth" not in payload:
        raise EventError("feedback has no truth")
    truths, _ = _matrix(payload["truth"], "truth")
    response = payload.get("response") if isinstance(payload.get("response"), dict) else {}
    puid = ((response or {}).get("meta") or {}).get("puid") or request_id
    features: list[dict[str, Any]] = []
    if isinstance(payload.get("request"), dict) and "data" in payload["request"]:
        matrix, names = _matrix(payload["request"], "request")
        _feature_names(names, "request")
        if len(matrix) != len(truths):
            raise EventError(f"{len(truths)} truth rows for {len(matrix)} request rows")
        columns = names or [f"f{i}" for i in range(len(matrix[0]) if matrix else 0)]
        features = [dict(zip(columns, values, strict=True)) for values in matrix]
    rows = []
    for index, truth in enumerate(truths):
        row: dict[str, Any] = {
            "_id": str(puid),
            "_index": index,
            "_ts": ts,
            "_source": "feedback",
            "truth": truth_text(truth, f"truth row {index}"),
        }
        if features:
            row |= features[index]
        rows.append(row)
    return rows


def label_rows(
    namespace: str, model: str, body: bytes, *, received: datetime
) -> tuple[Stream, list[dict[str, Any]]]:
    """Rows of a labels-API call: ``{"labels": [{"id", "truth", "index"?}, ...]}`` for the
    predictions of ``namespace``/``model``; every problem names the item."""
    for what, value in (("namespace", namespace), ("model", model)):
        if not _NAME.match(value):
            raise EventError(f"{what} {value!r} is not a Kubernetes object name")
    payload = _json(body)
    items = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise EventError('body must be {"labels": [{"id": ..., "truth": ...}, ...]}')
    if len(items) > MAX_LABELS:
        raise EventError(f"{len(items)} labels in one call; at most {MAX_LABELS}")
    ts = received.timestamp()
    rows = []
    for n, item in enumerate(items):
        where = f"labels[{n}]"
        if not isinstance(item, dict):
            raise EventError(f"{where} must be an object")
        unknown = set(item) - {"id", "truth", "index"}
        if unknown:
            raise EventError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident:
            raise EventError(f"{where}.id must be a non-empty string (the prediction's puid)")
        if "truth" not in item:
            raise EventError(f"{where}.truth is missing")
        index = item.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise EventError(f"{where}.index must be a row number >= 0, got {index!r}")
        rows.append(
            {
                "_id": ident,
                "_index": index,
                "_ts": ts,
                "_source": "api",
                "truth": truth_text(item["truth"], f"{where}.truth"),
            }
        )
    return Stream(namespace, model, "", "label"), rows


def object_key(stream: Stream, *, at: datetime) -> str:
    """Time-partitioned, sortable key of one batch (epoch milliseconds first); labels of all
    predictors of a model go to one ``labels/`` folder beside the predictors'."""
    where = "labels" if stream.kind == "label" else f"{stream.predictor}/{stream.kind}s"
    return (
        f"{PREFIX}/{stream.namespace}/{stream.model}/{where}/"
        f"date={at:%Y-%m-%d}/{int(at.timestamp() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        ".parquet"
    )


def model_prefix(namespace: str, model: str) -> str:
    """Prefix of every logged batch of a model (all predictors)."""
    return f"{PREFIX}/{namespace}/{model}/"


_DAY_FOLDER = re.compile(r"(?:^|/)date=([0-9]{4}-[0-9]{2}-[0-9]{2})/$")
KIND_FOLDERS = ("requests", "responses", "labels")


def partition_day(folder: str) -> str | None:
    """The day of a ``date=YYYY-MM-DD/`` partition folder (None for any other folder)."""
    found = _DAY_FOLDER.search(folder)
    return found.group(1) if found else None


def day_of(millis: int) -> str:
    """The UTC day (YYYY-MM-DD) of epoch milliseconds: the partition a batch of then is in."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y-%m-%d")


def may_hold(folder: str, kind: str | None) -> bool:
    """Whether batches of ``kind`` (None: any) can be under this folder: not when it is another
    kind's folder (``…/responses/`` holds no requests)."""
    last = folder.rstrip("/").rsplit("/", 1)[-1]
    return kind is None or last not in KIND_FOLDERS or last == kind


def batch_millis(key: str) -> int:
    """Epoch milliseconds encoded in a batch key (0 when absent)."""
    name = key.rsplit("/", 1)[-1]
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0
