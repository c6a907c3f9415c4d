"""The inference log sink against a real MinIO (and a real kube-apiserver for TokenReview):
batches, partitions, 400s, backpressure, flush on shutdown, schemas, quarantine, callers."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pandas as pd

from pace.adapters import kube_api, metrics
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import seldon_manifest, sink_auth
from pace.core.inference_records import Stream
from pace.inference_sink import Authorizer, InferenceSink
from pace.localstack import minio, processes
from tests.servers.kube_apiserver import Cluster

HEADERS = {
    "Ce-Id": "r1",
    "Ce-Type": "io.seldon.serving.inference.request",
    "Ce-Namespace": "ns",
    "Ce-Inferenceservicename": "wine",
    "Ce-Endpoint": "main",
    "Content-Type": "application/json",
}


def event(rows: list[list[object]], names: list[str] | None = None) -> bytes:
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


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with http.post(url, data=body, headers=headers or HEADERS) as resp:
        return resp.status, await resp.json()


def _frames(store: ObjectStore, prefix: str) -> pd.DataFrame:
    keys = [k for k in store.list(prefix) if k.endswith(".parquet")]
    return pd.concat([pd.read_parquet(io.BytesIO(store.get(k))) for k in keys], ignore_index=True)


async def test_a_value_of_another_type_is_refused_and_cannot_wedge_the_stream(
    store: ObjectStore,
) -> None:
    """No reference for the model: the first row fixes the stream's types. `[[1]]` then
    `[["x"]]` used to be accepted and made every later write of the stream fail."""
    sink = InferenceSink(store, flush_seconds=3600)
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/versions/v1"
    async with aiohttp.ClientSession() as http:
        assert (await _post(http, url, event([[1]])))[0] == 200
        status, answer = await _post(
            http, url, json.dumps({"data": {"ndarray": [[2], ["x"]]}}).encode()
        )
        assert status == 400
        assert answer["error"] == "request row 1, column 'f0': expected a number, got 'x'"
        status, answer = await _post(http, url, b'{"data": {"ndarray": [[NaN]]}}')
        assert status == 400
        assert "request row 0, column 'f0': NaN where the schema allows no missing" in str(
            answer["error"]
        )
        status, answer = await _post(http, url, b'{"data": {"ndarray": [[Infinity]]}}')
        assert (status, answer["error"]) == (
            400,
            "request row 0, column 'f0': inf is not a finite number",
        )
        assert (await _post(http, url, event([[3.5]])))[0] == 200
    await sink.close(runner)
    assert sink.buffered == 0  # everything acknowledged was written
    frame = _frames(store, "inference-logs/ns/wine/main/requests/")
    assert frame["f0"].tolist() == [1.0, 3.5]


async def test_rows_are_checked_against_the_answering_versions_reference(
    store: ObjectStore,
) -> None:
    """The version named by the logger URL has a drift reference in the registry: its features
    and kinds decide (positional rows are mapped onto its features)."""
    store.put_json(
        "models/ns/wine/0a1b2c3d/versions/v2/reference.json",
        {
            "features": ["alcohol", "colour"],
            "categorical": ["colour"],
            "statistics": {"alcohol": {"missing": 0.0}, "colour": {"missing": 0.0}},
        },
    )
    sink = InferenceSink(store, flush_seconds=3600)
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/versions/v2"
    async with aiohttp.ClientSession() as http:
        named = event([[13.1, 2]], ["alcohol", "colour"])
        assert (await _post(http, url, named))[0] == 200
        status, answer = await _post(http, url, event([["strong", "red"]]))
        assert status == 400
        assert answer["error"] == (
            "request row 0, column 'alcohol': expected a number, got 'strong'"
        )
        status, answer = await _post(http, url, event([[1.0, 2.0]], ["alcohol", "sugar"]))
        assert status == 400
        assert "column 'sugar' is not in the schema (reference v2): alcohol, colour" in str(
            answer["error"]
        )
        assert (await _post(http, url, event([[12.0, "red"]])))[0] == 200
    await sink.close(runner)
    frame = _frames(store, "inference-logs/ns/wine/main/requests/")
    assert frame[["alcohol", "colour"]].to_numpy().tolist() == [[13.1, "2"], [12.0, "red"]]
    assert set(frame["_version"]) == {"v2"}


async def test_a_batch_that_cannot_be_encoded_is_quarantined_and_blocks_nothing(
    store: ObjectStore,
) -> None:
    """Rows that passed the checks but still fail to encode (here put in the buffer directly:
    no accepted event can make one) go to the dead-letter prefix; other streams are written."""
    woken: list[tuple[str, str]] = []
    sink = InferenceSink(
        store, flush_seconds=3600, on_quarantine=lambda ns, model: woken.append((ns, model))
    )
    bad = Stream("ns", "wine", "main", "request")
    good = Stream("ns", "iris", "main", "request")
    sink.buffers[bad].extend([{"_id": "a", "x": 1}, {"_id": "b", "x": "text"}])
    sink.buffers[good].extend([{"_id": "c", "x": 1.0}])
    sink.buffered = 3
    before = _sample(
        "pace_inference_sink_quarantined_rows_total", {"namespace": "ns", "model": "wine"}
    )
    assert await sink.flush() == 1
    assert sink.buffered == 0
    dead = store.list("inference-logs-dead-letter/ns/wine/main/requests/")
    assert len(dead) == 1
    lines = [json.loads(line) for line in store.get(dead[0]).decode().splitlines()]
    assert lines == [{"_id": "a", "x": 1}, {"_id": "b", "x": "text"}]
    assert _frames(store, "inference-logs/ns/iris/")["x"].tolist() == [1.0]
    assert store.list("inference-logs/ns/wine/") == []
    found = sink.quarantined[("ns", "wine")]
    assert (found.rows, found.batches, found.last_key) == (2, 1, dead[0])
    assert "ArrowTypeError" in found.last_error or "ArrowInvalid" in found.last_error
    assert woken == [("ns", "wine")]
    after = _sample(
        "pace_inference_sink_quarantined_rows_total", {"namespace": "ns", "model": "wine"}
    )
    assert after - before == 2


def _sample(name: str, labels: dict[str, str]) -> float:
    from pace.adapters import metrics

    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_callers_authenticate_and_write_only_for_their_own_namespace(
    store: ObjectStore, kube_cluster: Cluster, namespace: str
) -> None:
    """With a key, the sink takes a namespace token (as the logger URL carries it) or a
    ServiceAccount token the real API server reviews, each for its own namespace only."""
    key = b"a-sink-key-of-some-length"
    kube = kube_api.KubeApi(kube_cluster.client)
    sink = InferenceSink(store, flush_seconds=3600, authorizer=Authorizer(key, kube.review_token))
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    mine = {**HEADERS, "Ce-Namespace": namespace}
    token = sink_auth.namespace_token(key, namespace)
    feeder = await asyncio.to_thread(kube.service_account_token, namespace, "label-feeder")
    labels = json.dumps({"labels": [{"id": "r1", "truth": 1}]}).encode()
    async with aiohttp.ClientSession() as http:
        logger_url = seldon_manifest.logger_url(f"{base}/", "v1", token)
        assert (await _post(http, logger_url, event([[1.0]]), mine))[0] == 200
        status, answer = await _post(http, f"{base}/versions/v1", event([[1.0]]), mine)
        assert (status, answer["error"]) == (401, "a bearer token is required")
        status, answer = await _post(
            http, logger_url, event([[1.0]]), {**HEADERS, "Ce-Namespace": "someone-else"}
        )
        assert status == 403
        assert answer["error"] == "this token may not write records of namespace 'someone-else'"
        status, _ = await _post(
            http, f"{base}/labels/{namespace}/wine", labels, {"Authorization": "Bearer forged"}
        )
        assert status == 401
        as_feeder = {"Authorization": f"Bearer {feeder}"}
        assert (await _post(http, f"{base}/labels/{namespace}/wine", labels, as_feeder))[0] == 200
        status, answer = await _post(http, f"{base}/labels/other-team/wine", labels, as_feeder)
        assert status == 403
        assert answer["error"] == (
            f"ServiceAccount of namespace {namespace!r} may not write records of namespace "
            "'other-team'"
        )
    await sink.close(runner)
    written = store.list("inference-logs/")
    assert [k.split("/")[1] for k in written] == [namespace, namespace]  # nothing for others
    assert all(feeder not in k and token not in k for k in written)


async def test_minio_down_during_a_flush_loses_nothing(tmp_path: Path) -> None:
    """The store crashes (SIGKILL) with rows acknowledged: the flush keeps them, the buffer
    fills to backpressure (503, counted), and once the store is back every acknowledged row
    is written, once."""
    servers = [minio.start(tmp_path / "minio")]
    info = servers[0]
    store = ObjectStore(
        S3Settings(
            endpoint=info.endpoint,
            bucket="sink-down",
            access_key=info.access_key,
            secret_key=info.secret_key,
        )
    )
    store.ensure_bucket()
    sink = InferenceSink(store, flush_rows=1000, flush_seconds=3600, max_rows=6)
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/"
    full_before = metrics.REGISTRY.get_sample_value("pace_inference_sink_full_total") or 0.0
    try:
        async with aiohttp.ClientSession() as http:
            status, _ = await _post(http, url, event([[1.0, 2.0], [3.0, 4.0]], ["a", "b"]))
            assert status == 200
            processes.stop(info.pid)  # the store goes away with two rows acknowledged
            assert await sink.flush() == 0
            assert sink.buffered == 2
            assert metrics.REGISTRY.get_sample_value("pace_inference_sink_buffered_rows") == 2
            body = event([[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]], ["a", "b"])
            status, _ = await _post(http, url, body)
            assert status == 200
            status, answer = await _post(http, url, event([[0.0, 0.0]] * 2, ["a", "b"]))
            assert (status, answer) == (503, {"error": "sink is full; retry"})
            full = metrics.REGISTRY.get_sample_value("pace_inference_sink_full_total")
            assert full == full_before + 1
            servers.append(minio.restart(info))
            assert await sink.flush() == 5
        assert sink.buffered == 0
        frame = _frames(store, "inference-logs/ns/wine/main/")
        assert sorted(frame["a"]) == [1.0, 3.0, 5.0, 7.0, 9.0]
    finally:
        await sink.close(runner)
        for server in servers:
            processes.stop(server.pid)
