"""Local serving runtime (tests and `make demo` only; in a cluster Seldon Core does this).

Watches SeldonDeployments and runs, per predictor, the seldon-core 1.19 microservice from the
serving environment (.venv-serving) with `PaceModel`, which loads the predictor's version from
MinIO with the keys of the Secret its graph's ``envSecretRefName`` names, in the
SeldonDeployment's namespace, and nothing else: that Secret's entries are the microservice's
store settings (as Seldon's storage initializer gets them with ``envFrom``), and the runtime's
own environment passes no store address or key on. A graph without one, a missing Secret, or
keys the store refuses fail the predictor as they would in a cluster.

One router port splits each deployment's requests by the predictors' current traffic weights
(a weighted random choice per request, as Istio's weighted routes in front of a Seldon
deployment make it: two predictors never get fixed subsets of cyclic traffic), forwards
feedback to `main`, mirrors requests to `shadow: true` predictors (their answers are logged and
never returned), gives every prediction a puid (``meta.puid``, header ``Seldon-Puid``) and
posts request, response and feedback to the predictor's logger URL as Seldon's executor does,
and exposes per-predictor counts, status codes and latency histograms under the Seldon
executor's metric names, so the same PromQL works in a cluster and here.

Run as ``python -m pace.localstack.serving --kubeconfig K --port P``; it reads
SeldonDeployments and those Secrets with the kubeconfig's identity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import prometheus_client
from aiohttp import web
from kubernetes.client.exceptions import ApiException

from pace.adapters import kube_api
from pace.core import seldon_status
from pace.localstack import processes

log = logging.getLogger("pace.serving")
DRAIN_SECONDS = 2.0  # a replaced microservice finishes the requests already sent to it
RETRY_FAILED = 30.0  # a predictor that failed to start is tried again after this long
# Store settings a microservice never inherits from the runtime: it gets them from its
# predictor's envSecretRefName Secret only.
STORE_ENV_PREFIXES = ("AWS_", "PACE_S3_", "RCLONE_CONFIG_", "MINIO_", "S3_")


PUID_HEADER = "Seldon-Puid"


def with_puid(body: bytes, headers: Any, service: str) -> tuple[bytes, str]:
    """The request as the executor forwards it, and its puid: a prediction keeps the client's
    ``meta.puid`` (or ``Seldon-Puid`` header), else gets a new one, written into ``meta.puid``
    (the microservice echoes it in its answer). Feedback names the prediction it labels by
    ``response.meta.puid`` (or the header)."""
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        return body, headers.get(PUID_HEADER) or str(uuid.uuid4())
    if service == "feedback":
        answered = message.get("response") if isinstance(message.get("response"), dict) else {}
        known = ((answered or {}).get("meta") or {}).get("puid")
        return body, str(known or headers.get(PUID_HEADER) or uuid.uuid4())
    meta = message.get("meta") if isinstance(message.get("meta"), dict) else {}
    puid = str((meta or {}).get("puid") or headers.get(PUID_HEADER) or uuid.uuid4())
    message["meta"] = {**(meta or {}), "puid": puid}
    return json.dumps(message).encode(), puid


def answered_with_puid(payload: bytes, puid: str) -> bytes:
    """The answer with ``meta.puid`` set (as the executor returns it)."""
    try:
        message = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(message, dict) or (message.get("meta") or {}).get("puid") == puid:
        return payload
    message["meta"] = {**(message.get("meta") or {}), "puid": puid}
    return json.dumps(message).encode()


def _first_error(message: str) -> str:
    """The last line naming an error in a start failure's log tail (else its first line)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors[-1] if errors else lines[0] if lines else message)[:512]


MODEL_DIR = Path(__file__).parent / "seldon_model"
REGISTRY = prometheus_client.CollectorRegistry()
REQUESTS = prometheus_client.Histogram(
    "seldon_api_executor_server_requests_seconds",
    "Requests through the router by predictor (Seldon executor metric names).",
    ["namespace", "deployment_name", "predictor_name", "service", "method", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
WEIGHT = prometheus_client.Gauge(
    "pace_router_predictor_weight",
    "Current traffic weight of a predictor (percent).",
    ["namespace", "deployment_name", "predictor_name"],
    registry=REGISTRY,
)


def serving_python() -> Path:
    """The serving environment's interpreter directory (.venv-serving/bin)."""
    env = os.environ.get("PACE_SERVING_VENV")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / ".venv-serving"
    exe = root / "bin" / "seldon-core-microservice"
    if not exe.is_file():
        raise processes.ServerStartError(
            f"seldon-core-microservice not found at {exe}; run `make install`"
        )
    return exe


def microservice_env(store_env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any store setting, plus ``store_env`` (the
    predictor's envSecretRefName Secret's entries)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(STORE_ENV_PREFIXES)}
    return {**inherited, **store_env}


def start_microservice(
    name: str,
    *,
    model_uri: str,
    method: str,
    log: Path,
    store_env: Mapping[str, str],
    on_spawn: Callable[[processes.Server], None] | None = None,
) -> tuple[processes.Server, int]:
    """One seldon-core microservice serving `PaceModel` for a model folder; waits until ready.

    The object store is reached with ``store_env`` only (the entries of the Secret the
    predictor's envSecretRefName names, in the format of Seldon's rclone storage initializer:
    ``RCLONE_CONFIG_S3_*``). ``on_spawn`` is called with the process as soon as it exists
    (before it is ready), so a runtime stopping meanwhile can stop it too.
    """
    port, grpc, metrics = (processes.free_port() for _ in range(3))
    # The graph's parameters as Seldon's operator passes them, with the model_uri parameter
    # it adds for prepackaged servers.
    parameters = [
        {"name": "method", "value": method, "type": "STRING"},
        {"name": "model_uri", "value": model_uri, "type": "STRING"},
    ]
    full_env = {
        **microservice_env(store_env),
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps(parameters),
        "PYTHONPATH": str(MODEL_DIR),
        "GUNICORN_WORKERS": "1",
    }
    server = processes.start(
        name,
        [
            str(serving_python()),
            "PaceModel",
            "--service-type",
            "MODEL",
            "--http-port",
            str(port),
            "--grpc-port",
            str(grpc),
            "--metrics-port",
            str(metrics),
            "--workers",
            "1",
            "--threads",
            "4",
        ],
        log=log,
        env=full_env,
        cwd=MODEL_DIR,
    )
    if on_spawn is not None:
        on_spawn(server)
    processes.wait_until(
        server,
        lambda: processes.http_ok(f"http://127.0.0.1:{port}/health/status"),
        timeout=90,
        what="ready",
    )
    return server, port


@dataclass
class Predictor:
    """One running microservice."""

    name: str
    model_uri: str
    method: str
    port: int
    server: processes.Server
    log_url: str | None = None
    secret: str | None = None  # the graph's envSecretRefName it was started with

    @property
    def source(self) -> tuple[str, str | None]:
        return self.model_uri, self.secret


def source_of(predictor: Mapping[str, Any]) -> tuple[str, str | None]:
    """What a predictor's microservice loads: its graph's modelUri, and the Secret
    (envSecretRefName) it reads it with. A change of either restarts it, as a changed pod
    template rolls Seldon's replicas."""
    graph = predictor.get("graph") or {}
    return str(graph.get("modelUri", "")), graph.get("envSecretRefName") or None


@dataclass
class Deployment:
    """Routing state of one SeldonDeployment."""

    namespace: str
    name: str
    weights: dict[str, int] = field(default_factory=dict)
    predictors: dict[str, Predictor] = field(default_factory=dict)
    # predictor -> (source_of it, why, when)
    failures: dict[str, tuple[tuple[str, str | None], str, float]] = field(default_factory=dict)
    shadows: set[str] = field(default_factory=set)  # predictors with `shadow: true`
    reported: dict[str, Any] | None = None  # the status last written

    def choose(self) -> Predictor | None:
        """A weighted random choice among predictors with weight > 0 that are running."""
        live = {n: w for n, w in self.weights.items() if w > 0 and n in self.predictors}
        if not live:
            return None
        name = random.choices(list(live), weights=list(live.values()))[0]
        return self.predictors[name]


class Runtime:
    """Reconciles microservices with SeldonDeployments and routes requests."""

    def __init__(self, kubeconfig: str, workdir: Path) -> None:
        self.kube = kube_api.KubeApi(kube_api.load_client(kubeconfig))
        self.workdir = workdir
        self.deployments: dict[tuple[str, str], Deployment] = {}
        self.session: aiohttp.ClientSession | None = None
        self.pending: set[asyncio.Task[None]] = set()
        # Microservices spawned but not ready yet (started in worker threads): stopped too.
        self.starting: set[int] = set()
        self.retiring: set[int] = set()  # replaced or removed, stopped after DRAIN_SECONDS
        self.closing = False
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ reconcile
    def _list(self) -> list[dict[str, Any]]:
        items = self.kube.custom.list_cluster_custom_object(
            "machinelearning.seldon.io", "v1", "seldondeployments"
        )["items"]
        return list(items)

    async def reconcile_forever(self, period: float = 0.5) -> None:
        while True:
            try:
                await self.reconcile(await asyncio.to_thread(self._list))
            except Exception:  # keep serving whatever runs; report and retry
                log.exception("reconcile failed")
            await asyncio.sleep(period)

    async def reconcile(self, items: list[dict[str, Any]]) -> None:
        seen = set()
        for item in items:
            meta = item["metadata"]
            key = (meta["namespace"], meta["name"])
            seen.add(key)
            dep = self.deployments.setdefault(key, Deployment(*key))
            wanted = {p["name"]: p for p in item.get("spec", {}).get("predictors", [])}
            for name, spec in wanted.items():
                graph = spec.get("graph", {})
                source = source_of(spec)
                method = next(
                    (p["value"] for p in graph.get("parameters", []) if p.get("name") == "method"),
                    "predict_proba",
                )
                running = dep.predictors.get(name)
                if running is None or running.source != source:
                    failed = dep.failures.get(name)
                    if (
                        failed
                        and failed[0] == source
                        and time.monotonic() - failed[2] < RETRY_FAILED
                    ):
                        continue
                    # Seldon reports Creating while a predictor's new replicas start.
                    await self._report(item, dep, wanted, starting=name)
                    try:
                        fresh = await asyncio.to_thread(self._start, dep, name, source, method)
                    except processes.ServerStartError as exc:
                        log.warning("predictor %s/%s/%s failed: %s", *key, name, exc)
                        dep.failures[name] = (source, _first_error(str(exc)), time.monotonic())
                        continue
                    dep.failures.pop(name, None)
                    dep.predictors[name] = fresh
                    if running is not None:
                        self._retire(running)
                dep.predictors[name].log_url = (graph.get("logger") or {}).get("url")
            for name in set(dep.predictors) - set(wanted):
                self._retire(dep.predictors.pop(name))
            dep.weights = {n: int(p.get("traffic", 0)) for n, p in wanted.items()}
            dep.shadows = {n for n, p in wanted.items() if p.get("shadow")}
            for n, w in dep.weights.items():
                WEIGHT.labels(namespace=key[0], deployment_name=key[1], predictor_name=n).set(w)
            await self._report(item, dep, wanted)
        for key in set(self.deployments) - seen:
            for pred in self.deployments.pop(key).predictors.values():
                self._retire(pred)

    async def _report(
        self,
        item: dict[str, Any],
        dep: Deployment,
        wanted: dict[str, Any],
        *,
        starting: str | None = None,
    ) -> None:
        """Write the SeldonDeployment's status as Seldon does (`pace.core.seldon_status`): a
        predictor is available only once its microservice answers, with the model the spec
        names. One process serves a predictor here, so it reports one replica."""
        states = {}
        for name, spec in wanted.items():
            source = source_of(spec)
            running = dep.predictors.get(name)
            # A replaced predictor's old microservice answers until the new one is ready (a
            # rolling update): available, but the deployment is Creating meanwhile.
            updating = name == starting or (running is not None and running.source != source)
            failed = dep.failures.get(name)
            failure = failed[1] if failed and failed[0] == source else None
            states[name] = seldon_status.PredictorState(
                1, 1 if running is not None else 0, failure=failure, updating=updating
            )
        status = seldon_status.render(item, states)
        if status == dep.reported:
            return
        meta = item["metadata"]
        try:
            await asyncio.to_thread(
                self.kube.custom.patch_namespaced_custom_object_status,
                "machinelearning.seldon.io",
                "v1",
                meta["namespace"],
                "seldondeployments",
                meta["name"],
                {"status": status},
            )
        except ApiException as exc:
            if exc.status == 404:  # deleted meanwhile
                return
            raise
        dep.reported = status

    def _retire(self, pred: Predictor) -> None:
        """Stop a predictor no longer routed to, after requests already sent to it finished."""
        with self.lock:
            self.retiring.add(pred.server.pid)

        async def drain_then_stop() -> None:
            await asyncio.sleep(DRAIN_SECONDS)
            await asyncio.to_thread(processes.stop, pred.server.pid)
            with self.lock:
                self.retiring.discard(pred.server.pid)

        task = asyncio.get_running_loop().create_task(drain_then_stop())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def _spawned(self, server: processes.Server) -> None:
        with self.lock:
            closing = self.closing
            if not closing:
                self.starting.add(server.pid)
        if closing:
            processes.stop(server.pid)

    def _store_env(self, namespace: str, secret: str | None) -> dict[str, str]:
        """The entries of the predictor's envSecretRefName Secret (none without one: the
        storage initializer then has no store configured, and the model cannot load)."""
        if secret is None:
            return {}
        try:
            return self.kube.read_secret(namespace, secret)
        except ApiException as exc:
            if exc.status == 404:  # what the kubelet reports: CreateContainerConfigError
                raise processes.ServerStartError(
                    f'Error: secret "{secret}" not found (envSecretRefName, namespace {namespace})'
                ) from None
            raise

    def _start(
        self, dep: Deployment, name: str, source: tuple[str, str | None], method: str
    ) -> Predictor:
        log_file = self.workdir / "serving" / f"{dep.namespace}-{dep.name}-{name}.log"
        pid: list[int] = []
        uri, secret = source
        store_env = self._store_env(dep.namespace, secret)

        def spawned(server: processes.Server) -> None:
            pid.append(server.pid)
            self._spawned(server)

        try:
            server, port = start_microservice(
                f"microservice {dep.namespace}/{dep.name}/{name}",
                model_uri=uri,
                method=method,
                log=log_file,
                store_env=store_env,
                on_spawn=spawned,
            )
        finally:
            with self.lock:
                self.starting.difference_update(pid)
        log.info("predictor %s/%s/%s serving %s on :%d", dep.namespace, dep.name, name, uri, port)
        return Predictor(
            name=name, model_uri=uri, method=method, port=port, server=server, secret=secret
        )

    def stop_all(self) -> None:
        """Stop every microservice, ready or still starting (in parallel, so a stopping runtime
        is quick)."""
        with self.lock:
            self.closing = True
            starting = list(self.starting | self.retiring)
        processes.stop_many(
            [
                pred.server.pid
                for dep in self.deployments.values()
                for pred in dep.predictors.values()
            ]
            + starting
        )
        self.deployments.clear()

    # --------------------------------------------------------------------- routing
    async def predict(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        service = request.match_info.get("service", "predictions")
        dep = self.deployments.get((namespace, name))
        if dep is None:
            return web.json_response(
                {"status": {"code": 404, "info": f"no SeldonDeployment {namespace}/{name}"}},
                status=404,
            )
        pred = dep.predictors.get("main") if service == "feedback" else dep.choose()
        if pred is None:
            return web.json_response(
                {"status": {"code": 503, "info": "no ready predictor"}}, status=503
            )
        body, puid = with_puid(await request.read(), request.headers, service)
        started = time.perf_counter()
        assert self.session is not None
        try:
            async with self.session.post(
                f"http://127.0.0.1:{pred.port}/api/v1.0/{service}",
                data=body,
                headers={"Content-Type": "application/json", PUID_HEADER: puid},
            ) as resp:
                payload, code = await resp.read(), resp.status
        except aiohttp.ClientError as exc:
            payload, code = json.dumps({"status": {"code": 503, "info": str(exc)}}).encode(), 503
        REQUESTS.labels(
            namespace=namespace,
            deployment_name=name,
            predictor_name=pred.name,
            service=service,
            method="post",
            code=str(code),
        ).observe(time.perf_counter() - started)
        if service == "predictions":
            payload = answered_with_puid(payload, puid)
            for shadow in sorted(dep.shadows & set(dep.predictors)):  # mirrored, never returned
                task = asyncio.create_task(
                    self._mirror(dep.predictors[shadow], namespace, name, body, puid)
                )
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
        if pred.log_url:  # as the executor's logger (mode all): after the answer
            logged = (
                [("request", body), ("response", payload)]
                if service == "predictions" and code == 200
                else [("feedback", body)]
                if service == "feedback"
                else []
            )
            if logged:
                task = asyncio.create_task(self._log(pred, namespace, name, puid, logged))
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
        return web.Response(
            body=payload,
            status=code,
            content_type="application/json",
            headers={"X-Seldon-Predictor": pred.name, PUID_HEADER: puid},
        )

    async def _mirror(
        self, pred: Predictor, namespace: str, name: str, body: bytes, puid: str
    ) -> None:
        """Send a copy of the request to a shadow predictor, as Seldon's shadow does: its
        answer is counted and logged (with the same puid) and never returned."""
        assert self.session is not None
        started = time.perf_counter()
        try:
            async with self.session.post(
                f"http://127.0.0.1:{pred.port}/api/v1.0/predictions",
                data=body,
                headers={"Content-Type": "application/json", PUID_HEADER: puid},
            ) as resp:
                payload, code = await resp.read(), resp.status
        except aiohttp.ClientError:
            payload, code = b"", 503
        REQUESTS.labels(
            namespace=namespace,
            deployment_name=name,
            predictor_name=pred.name,
            service="predictions",
            method="post",
            code=str(code),
        ).observe(time.perf_counter() - started)
        if pred.log_url and code == 200:
            payload = answered_with_puid(payload, puid)
            await self._log(pred, namespace, name, puid, [("request", body), ("response", payload)])

    async def _log(
        self,
        pred: Predictor,
        namespace: str,
        name: str,
        puid: str,
        payloads: list[tuple[str, bytes]],
    ) -> None:
        """Post each payload as a CloudEvent, like Seldon's executor: its own ``Ce-Id``, the
        prediction's puid as ``Ce-Requestid``, the graph node as ``Ce-Modelid``."""
        assert self.session is not None
        assert pred.log_url is not None
        for kind, data in payloads:
            ce_type = (
                "io.seldon.serving.feedback"
                if kind == "feedback"
                else f"io.seldon.serving.inference.{kind}"
            )
            headers = {
                "Ce-Specversion": "1.0",
                "Ce-Id": str(uuid.uuid4()),
                "Ce-Requestid": puid,
                "Ce-Type": ce_type,
                "Ce-Source": f"http://{name}-{pred.name}.{namespace}",
                "Ce-Namespace": namespace,
                "Ce-Inferenceservicename": name,
                "Ce-Endpoint": pred.name,
                "Ce-Modelid": "model",
                "Content-Type": "application/json",
            }
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with self.session.post(
                    pred.log_url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
                ):
                    pass

    async def metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=prometheus_client.generate_latest(REGISTRY), content_type="text/plain"
        )

    async def ready(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")


@dataclass
class RuntimeInfo:
    """A started serving runtime."""

    url: str
    metrics_target: str
    pid: int
    log: Path


def start_runtime(kubeconfig: str, workdir: Path, *, die_with_parent: bool = True) -> RuntimeInfo:
    """Start this module as a process (router + microservices); return when it answers. It
    needs no store settings: each predictor's come from its envSecretRefName Secret."""
    port = processes.free_port()
    log_file = workdir / "logs" / "serving-runtime.log"
    server = processes.start(
        "serving-runtime",
        [
            sys.executable,
            "-m",
            "pace.localstack.serving",
            "--kubeconfig",
            kubeconfig,
            "--port",
            str(port),
            "--workdir",
            str(workdir),
        ],
        log=log_file,
        env=microservice_env({}),
        die_with_parent=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(
        server, lambda: processes.http_ok(f"{url}/ready"), timeout=60, what="ready"
    )
    return RuntimeInfo(url=url, metrics_target=f"127.0.0.1:{port}", pid=server.pid, log=log_file)


async def serve(kubeconfig: str, port: int, workdir: Path) -> None:
    runtime = Runtime(kubeconfig, workdir)
    runtime.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    app = web.Application()
    app.router.add_post("/seldon/{namespace}/{name}/api/v1.0/{service}", runtime.predict)
    app.router.add_get("/metrics", runtime.metrics)
    app.router.add_get("/ready", runtime.ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    log.info("router on 127.0.0.1:%d", port)
    try:
        await runtime.reconcile_forever()
    finally:
        runtime.stop_all()
        await runtime.session.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pace.localstack.serving",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import signal

    loop = asyncio.new_event_loop()
    task = loop.create_task(serve(args.kubeconfig, args.port, args.workdir))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
