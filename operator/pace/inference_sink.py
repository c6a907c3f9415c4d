"""Inference log sink: receives Seldon request-logger CloudEvents (requests, responses and
feedback) and labels, and batches them into Parquet objects in the object store, partitioned
by namespace, model, predictor, kind, date (labels: namespace, model, date).

Routes: ``POST /<anything>`` a CloudEvent as Seldon's executor posts it (the path may end in
``versions/<version>``: the rows carry it); ``POST /labels/<namespace>/<model>`` a batch of
delayed labels ``{"labels": [{"id": <puid>, "truth": <value>, "index": <row, default 0>}]}``.

An event is acknowledged (HTTP 200) once buffered; buffers flush every `flush_seconds`, when
`flush_rows` are waiting, and on shutdown; a failed write keeps the rows and is retried, so no
acknowledged record is lost. Memory is bounded: with `max_rows` buffered the sink answers 503
with Retry-After (backpressure) instead of accepting more. Malformed events get a 400 that
says what is wrong. Runs inside the operator (`PACE_INFERENCE_SINK_PORT`).

Rows are checked before they are buffered (`pace.core.sink_schema`): request features against
the answering version's reference schema (else the types the stream's first row fixed), so a
wrong type, an unknown column or a NaN/inf where the schema allows none is a 400 naming column
and row, and never reaches a batch. A batch that still cannot be encoded is quarantined: its
rows are written as JSON lines under ``inference-logs-dead-letter/`` and counted
(`pace_inference_sink_quarantined_rows_total`, the model's ``InferenceLogged`` condition);
it never blocks the other streams. 503 means backpressure only (the store is not taking
writes). With a key configured, callers authenticate (`pace.core.sink_auth`): 401 without a
valid token, 403 for another namespace's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pace.adapters import metrics, version_schemas
from pace.adapters.object_store import ObjectStore
from pace.core import inference_records, sink_auth, sink_schema

log = logging.getLogger("pace.sink")

DEAD_LETTER_PREFIX = "inference-logs-dead-letter"
SCHEMA_RETRY_SECONDS = 30.0  # a version without a reference is looked up again after this
REVIEW_SECONDS = 60.0  # a ServiceAccount token's review is trusted this long


@dataclass
class Quarantine:
    """What one model lost to the dead-letter prefix since the sink started."""

    rows: int = 0
    batches: int = 0
    last_key: str = ""
    last_error: str = ""
    last_at: float = 0.0  # epoch seconds


class Authorizer:
    """Checks a request's token against the namespace it writes for (`pace.core.sink_auth`);
    without a key, every caller is let in (local development)."""

    def __init__(self, key: bytes | None, review: Callable[[str], str | None] | None) -> None:
        self.key, self.review = key, review
        self.reviewed: dict[str, tuple[str | None, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.key is not None

    async def refusal(self, request: web.Request, namespace: str) -> web.Response | None:
        """None when the caller may write for ``namespace``, else the 401/403 answer."""
        if self.key is None:
            return None
        token = sink_auth.presented_token(request.headers, request.query)
        if token is None:
            return _error(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        if sink_auth.is_namespace_token(token):
            if sink_auth.token_namespace(self.key, token, namespace):
                return None
            return _error(403, f"this token may not write records of namespace {namespace!r}")
        allowed = await self._service_account_namespace(token)
        if allowed is None:
            return _error(401, "the token is not valid", {"WWW-Authenticate": "Bearer"})
        if allowed != namespace:
            return _error(
                403,
                f"ServiceAccount of namespace {allowed!r} may not write records of namespace "
                f"{namespace!r}",
            )
        return None

    async def _service_account_namespace(self, token: str) -> str | None:
        if self.review is None:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()  # the token itself is not kept
        cached = self.reviewed.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            user = await asyncio.to_thread(self.review, token)
        except Exception:  # the API server is away: refuse now, ask again next time
            log.exception("TokenReview failed")
            return None
        namespace = sink_auth.service_account_namespace(user)
        if len(self.reviewed) > 10_000:
            self.reviewed.clear()
        self.reviewed[digest] = (namespace, time.monotonic() + REVIEW_SECONDS)
        return namespace


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


class InferenceSink:
    """Buffers and writes inference records."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        flush_rows: int = 1000,
        flush_seconds: float = 2.0,
        max_rows: int = 100_000,
        authorizer: Authorizer | None = None,
        on_quarantine: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store, self.flush_rows, self.flush_seconds = store, flush_rows, flush_seconds
        self.max_rows = max_rows
        self.authorizer = authorizer or Authorizer(None, None)
        self.on_quarantine = on_quarantine
        self.buffers: dict[inference_records.Stream, list[dict[str, Any]]] = defaultdict(list)
        self.buffered = 0
        metrics.SINK_BUFFERED_ROWS.set_function(lambda: self.buffered)
        metrics.SINK_CAPACITY_ROWS.set(max_rows)
        self.written_rows = 0
        self.quarantined: dict[tuple[str, str], Quarantine] = defaultdict(Quarantine)
        self.written_at: dict[tuple[str, str], float] = {}  # model -> last batch written
        # (stream, version) -> the schema its rows are checked against
        self.schemas: dict[tuple[inference_records.Stream, str], sink_schema.Schema] = {}
        self.no_reference: dict[tuple[str, str, str], float] = {}
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            stream, rows = inference_records.parse(
                request.headers, body, received=datetime.now(UTC), path=request.path
            )
        except inference_records.EventError as exc:
            return _error(400, str(exc))
        refused = await self.authorizer.refusal(request, stream.namespace)
        if refused is not None:
            return refused
        return await self._accept(stream, rows)

    async def receive_labels(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        refused = await self.authorizer.refusal(request, namespace)
        if refused is not None:
            return refused
        body = await request.read()
        try:
            stream, rows = inference_records.label_rows(
                namespace, request.match_info["model"], body, received=datetime.now(UTC)
            )
        except inference_records.EventError as exc:
            return _error(400, str(exc))
        return await self._accept(stream, rows)

    async def _accept(
        self, stream: inference_records.Stream, rows: list[dict[str, Any]]
    ) -> web.Response:
        try:
            rows = await self._checked(stream, rows)
        except sink_schema.RowError as exc:
            metrics.SINK_REJECTED_ROWS.labels(stream.namespace).inc(len(rows))
            return _error(400, str(exc))
        if self.buffered + len(rows) > self.max_rows:
            metrics.SINK_FULL.inc()
            return _error(503, "sink is full; retry", {"Retry-After": "1"})
        self.buffers[stream].extend(rows)
        self.buffered += len(rows)
        if len(self.buffers[stream]) >= self.flush_rows:
            asyncio.get_running_loop().create_task(self.flush())
        return web.json_response({"accepted": len(rows)})

    async def _checked(
        self, stream: inference_records.Stream, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The rows normalised to their stream's schema, or RowError naming column and row."""
        if stream.kind == "response":
            sink_schema.check_finite(rows, prefix="response")
            return rows
        if not rows:
            return rows
        version = str(rows[0].get("_version") or "")
        schema = self.schemas.get((stream, version))
        if schema is None:
            schema = await self._reference(stream, version) or sink_schema.from_row(rows[0])
        kind = "label" if stream.kind == "label" else "request"
        checked = [
            sink_schema.check_row(row, schema, where=f"{kind} row {n}")
            for n, row in enumerate(rows)
        ]
        self.schemas.setdefault((stream, version), schema)  # fixed by an accepted event only
        return checked

    async def _reference(
        self, stream: inference_records.Stream, version: str
    ) -> sink_schema.Schema | None:
        """The answering version's reference schema (requests only; looked up again after
        SCHEMA_RETRY_SECONDS when the registry has none or cannot be read)."""
        if stream.kind != "request" or not version:
            return None
        key = (stream.namespace, stream.model, version)
        if self.no_reference.get(key, 0.0) > time.monotonic():
            return None
        try:
            schema = await asyncio.to_thread(
                version_schemas.schema_of, self.store, stream.namespace, stream.model, version
            )
        except Exception as exc:  # the registry is away: check by the first row meanwhile
            log.warning("no schema for %s/%s %s: %s", *key, exc)
            schema = None
        if schema is None:
            self.no_reference[key] = time.monotonic() + SCHEMA_RETRY_SECONDS
        return schema

    async def flush(self) -> int:
        """Write every buffer; rows whose write fails stay buffered, a batch that cannot be
        encoded is quarantined. Returns rows written."""
        written = 0
        async with self.lock:
            for stream in list(self.buffers):
                rows = self.buffers[stream]
                if not rows:
                    continue
                batch = list(rows)
                key = inference_records.object_key(stream, at=datetime.now(UTC))
                try:
                    # Encoding and upload both run in a worker: the operator's loop never
                    # spends a flush's CPU time.
                    data = await asyncio.to_thread(_encode, batch)
                except Exception as exc:
                    if not await self._quarantine(stream, batch, exc):
                        continue
                else:
                    try:
                        await asyncio.to_thread(self._put, key, data)
                    except Exception:  # keep the rows; the next flush retries
                        log.exception("writing %s failed; %d rows kept", key, len(batch))
                        continue
                    written += len(batch)
                    self.written_at[(stream.namespace, stream.model)] = time.time()
                del rows[: len(batch)]
                self.buffered -= len(batch)
        self.written_rows += written
        return written

    async def _quarantine(
        self, stream: inference_records.Stream, batch: list[dict[str, Any]], exc: Exception
    ) -> bool:
        """Keep a batch that cannot be encoded under the dead-letter prefix (JSON lines);
        False when that write failed too (the rows stay buffered)."""
        key = dead_letter_key(stream, at=datetime.now(UTC))
        lines = "".join(json.dumps(row, default=repr) + "\n" for row in batch).encode()
        try:
            await asyncio.to_thread(self.store.put, key, lines, content_type="application/jsonl")
        except Exception:
            log.exception("quarantining %d rows at %s failed; kept", len(batch), key)
            return False
        found = self.quarantined[(stream.namespace, stream.model)]
        found.rows += len(batch)
        found.batches += 1
        found.last_key, found.last_error = key, f"{type(exc).__name__}: {exc}"[:300]
        found.last_at = time.time()
        metrics.SINK_QUARANTINED_ROWS.labels(stream.namespace, stream.model).inc(len(batch))
        log.error(
            "%d rows of %s could not be encoded (%s); quarantined at %s",
            len(batch),
            stream,
            found.last_error,
            key,
        )
        if self.on_quarantine is not None:
            self.on_quarantine(stream.namespace, stream.model)
        return True

    def _put(self, key: str, data: bytes) -> None:
        self.store.put(key, data, content_type="application/vnd.apache.parquet")

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/labels/{namespace}/{model}", self.receive_labels)
        app.router.add_post("/", self.receive)
        app.router.add_post("/{tail:.*}", self.receive)
        return app

    async def start(self, host: str, port: int) -> web.AppRunner:
        await asyncio.to_thread(self.store.ensure_bucket)
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self.task = asyncio.get_running_loop().create_task(self._flush_forever())
        return runner

    async def close(self, runner: web.AppRunner | None = None) -> None:
        """Stop accepting, then flush what was acknowledged."""
        if runner is not None:
            await runner.cleanup()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for _ in range(5):
            await self.flush()
            if not self.buffered:
                return
            await asyncio.sleep(0.5)
        log.error("%d acknowledged rows could not be written at shutdown", self.buffered)


def _encode(batch: list[dict[str, Any]]) -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame(batch).to_parquet(buf, index=False)
    return buf.getvalue()


def dead_letter_key(stream: inference_records.Stream, *, at: datetime) -> str:
    """Where a quarantined batch of a stream is kept (beside, not inside, the log: readers of
    the log never meet it, and retention does not expire it)."""
    where = "labels" if stream.kind == "label" else f"{stream.predictor}/{stream.kind}s"
    return (
        f"{DEAD_LETTER_PREFIX}/{stream.namespace}/{stream.model}/{where}/"
        f"{int(at.timestamp() * 1000):013d}-{uuid.uuid4().hex[:8]}.jsonl"
    )
