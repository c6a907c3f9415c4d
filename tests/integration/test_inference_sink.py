"""The inference log sink against a real MinIO: batches, partitions, 400s, backpressure,
flush on shutdown."""

from __future__ import annotations

import io
import json

import aiohttp
import pandas as pd

from pace.adapters.object_store import ObjectStore
from pace.inference_sink import InferenceSink
from pace.localstack import processes

HEADERS = {
    "Ce-Id": "r1",
    "Ce-Type": "io.seldon.serving.inference.request",
    "Ce-Namespace": "ns",
    "Ce-Inferenceservicename": "wine",
    "Ce-Endpoint": "main",
    "Content-Type": "application/json",
}


def event(rows: list[list[float]], names: list[str] | None = None) -> bytes:
    data: dict[str, object] = {"ndarray": rows}
    if names:
        data["names"] = names
    return json.dumps({"data": data}).encode()


async def test_records_land_in_parquet_partitions_and_nothing_is_lost(store: ObjectStore) -> None:
    sink = InferenceSink(store, flush_rows=1000, flush_seconds=3600, max_rows=10)
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/"
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            url, data=event([[1.0, 2.0], [3.0, 4.0]], ["a", "b"]), headers=HEADERS
        )
        assert resp.status == 200
        assert await resp.json() == {"accepted": 2}
        out = await http.post(
            url,
            data=event([[0.9]]),
            headers={**HEADERS, "Ce-Type": "io.seldon.serving.inference.response"},
        )
        assert out.status == 200
        bad = await http.post(url, data=b"not json", headers=HEADERS)
        assert bad.status == 400
        assert "not JSON" in (await bad.json())["error"]
        no_header = await http.post(
            url, data=event([[1.0]]), headers={"Content-Type": "application/json"}
        )
        assert no_header.status == 400
        assert "ce-id" in (await no_header.json())["error"]
        full = await http.post(url, data=event([[1.0, 2.0]] * 8, ["a", "b"]), headers=HEADERS)
        assert full.status == 503  # 3 buffered + 8 > 10: backpressure, not accepted
        assert full.headers["Retry-After"] == "1"
    assert store.list("inference-logs/") == []  # nothing flushed yet
    await sink.close(runner)  # shutdown flushes what was acknowledged
    keys = store.list("inference-logs/ns/wine/main/")
    requests = [k for k in keys if "/requests/date=" in k]
    responses = [k for k in keys if "/responses/date=" in k]
    assert len(requests) == 1
    assert len(responses) == 1
    frame = pd.read_parquet(io.BytesIO(store.get(requests[0])))
    assert frame[["a", "b"]].to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert set(frame["_id"]) == {"r1"}
    answer = pd.read_parquet(io.BytesIO(store.get(responses[0])))
    assert json.loads(answer["prediction"][0]) == [0.9]
    assert sink.buffered == 0
