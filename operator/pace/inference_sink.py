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
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pace.adapters.object_store import ObjectStore
from pace.core import inference_records

log = logging.getLogger("pace.sink")


class InferenceSink:
    """Buffers and writes inference records."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        flush_rows: int = 1000,
        flush_seconds: float = 2.0,
        max_rows: int = 100_000,
    ) -> None:
        self.store, self.flush_rows, self.flush_seconds = store, flush_rows, flush_seconds
        self.max_rows = max_rows
        self.buffers: dict[inference_records.Stream, list[dict[str, Any]]] = defaultdict(list)
        self.buffered = 0
        self.written_rows = 0
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            stream, rows = inference_records.parse(
                request.headers, body, received=datetime.now(UTC), path=request.path
            )
        except inference_records.EventError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return self._accept(stream, rows)

    async def receive_labels(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            stream, rows = inference_records.label_rows(
                request.match_info["namespace"],
                request.match_info["model"],
                body,
                received=datetime.now(UTC),
            )
        except inference_records.EventError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return self._accept(stream, rows)

    def _accept(self, stream: inference_records.Stream, rows: list[dict[str, Any]]) -> web.Response:
        if self.buffered + len(rows) > self.max_rows:
            return web.json_response(
                {"error": "sink is full; retry"}, status=503, headers={"Retry-After": "1"}
            )
        self.buffers[stream].extend(rows)
        self.buffered += len(rows)
        if len(self.buffers[stream]) >= self.flush_rows:
            asyncio.get_running_loop().create_task(self.flush())
        return web.json_response({"accepted": len(rows)})

    async def flush(self) -> int:
        """Write every buffer; rows whose write fails stay buffered. Returns rows written."""
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
                    await asyncio.to_thread(self._write, key, batch)
                except Exception:  # keep the rows; the next flush retries
                    log.exception("writing %s failed; %d rows kept", key, len(batch))
                    continue
                del rows[: len(batch)]
                self.buffered -= len(batch)
                written += len(batch)
        self.written_rows += written
        return written

    def _write(self, key: str, batch: list[dict[str, Any]]) -> None:
        import pandas as pd

        buf = io.BytesIO()
        pd.DataFrame(batch).to_parquet(buf, index=False)
        self.store.put(key, buf.getvalue(), content_type="application/vnd.apache.parquet")

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
