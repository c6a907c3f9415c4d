"""Operator start-up: kopf settings, clients in the memo, the /metrics server; the probe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from pace import inference_sink
from pace.adapters import (
    heap,
    kopf_diffbase,
    kube_api,
    metrics,
    object_store,
    pipeline_backend,
    prometheus_api,
    store_users,
)
from pace.api import constants
from pace.config import OperatorConfig
from pace.core import pipeline_plan, serving_credentials, training_queue
from pace.handlers import mlmodel_training, notifier, reconciler


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Keep kopf's state in annotations under our prefix, create clients, serve metrics."""
    config = OperatorConfig.from_env()
    # Handler results would go to status.<id>, which our structural schemas prune; kopf's
    # own progress and diff-base therefore live in annotations under mlops.pace.dev.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=constants.ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf_diffbase.LeanDiffBaseStorage(
        prefix=constants.ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    # No handler asks kopf for its finalizer (kopf removes its own where no handler needs it):
    # PACE puts on and takes off its own (`constants.FINALIZER`, see pace.handlers.reconciler),
    # so kopf's must have another name, or kopf would take PACE's off.
    settings.persistence.finalizer = constants.KOPF_FINALIZER
    settings.posting.level = logging.INFO
    # The kubernetes client logs whole response bodies at DEBUG (Secrets included): never.
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # Indexes and wake-ups run on every watch event of every object: their routine success
    # lines would be most of the log (and of its cost) at a thousand objects.
    objects_log = logging.getLogger("kopf.objects")
    if _quiet_routine not in objects_log.filters:
        objects_log.addFilter(_quiet_routine)
    # Watches can hang silently behind load balancers (nolar/kopf#698, dask-kubernetes).
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.queueing.error_delays = [1, 2, 5, 10, 30, 60]
    memo.config = config
    memo.wakers = reconciler.Wakers()
    memo.deletions = reconciler.Deletions()
    memo.notifier = notifier.Notifier(memo)
    memo.reconcile_slots = asyncio.Semaphore(reconciler.CONCURRENT_RECONCILES)
    memo.training_queue = training_queue.TrainingQueue(
        limit=config.max_training_runs, order_ttl=1.0
    )
    memo.training_queue_keys = {}
    memo.wakers.backlog.on_clear.append(lambda: mlmodel_training.wake_heads(memo))
    memo.kube = kube_api.KubeApi(kube_api.load_client())
    memo.s3, memo.store = await _object_store(config, memo.kube, logger)
    memo.store_users = _store_users(config, memo.s3)
    memo.backend = _pipeline_backend(config)
    if isinstance(memo.backend, pipeline_backend.LocalBackend) and memo.store is not None:
        # Warm step server: imports the step libraries once; until it answers, runs start cold.
        memo.warming = asyncio.create_task(asyncio.to_thread(memo.backend.start_warm))
    memo.heap_tender = asyncio.create_task(_tend_heap(memo.wakers.backlog))
    memo.sink = memo.sink_runner = None
    memo.sink_key = await _sink_key(config, memo.kube)
    if config.inference_sink_port and memo.store is not None:
        if memo.sink_key is None:
            logger.warning(
                "PACE_INFERENCE_SINK_AUTH_SECRET is not set: the inference sink takes records "
                "from any caller for any namespace"
            )
        memo.sink = inference_sink.InferenceSink(
            memo.store,
            authorizer=inference_sink.Authorizer(memo.sink_key, memo.kube.review_token),
            on_quarantine=lambda namespace, name: memo.wakers.wake(
                (constants.MLMODEL_PLURAL, namespace, name)
            ),
        )
        memo.sink_runner = await memo.sink.start(config.bind_address, config.inference_sink_port)
        logger.info("inference log sink on :%d", config.inference_sink_port)
    memo.prometheus = (
        prometheus_api.PrometheusApi(config.prometheus_url) if config.prometheus_url else None
    )
    port = metrics.serve(config.metrics_port, config.bind_address)
    memo.metrics_port = port
    logger.info(
        "PACE operator %s: metrics on :%d, probe on :%d, namespaces %s, %d training run(s) "
        "at a time",
        _version(),
        port,
        config.probe_port,
        list(config.watch_namespaces) or "all",
        config.max_training_runs,
    )


def _quiet_routine(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (
        (message.startswith("Indexer '") or message.startswith("Handler 'wake'"))
        and message.endswith("succeeded.")
    )


async def _sink_key(config: OperatorConfig, kube: kube_api.KubeApi) -> bytes | None:
    """The key that signs the inference sink's namespace tokens (its Secret's ``key``)."""
    if config.inference_sink_auth_secret is None:
        return None
    namespace, name = config.inference_sink_auth_secret
    data = await asyncio.to_thread(kube.read_secret, namespace, name)
    if len(data.get("key", "")) < 16:
        raise kopf.PermanentError(
            f"Secret {namespace}/{name} must hold a `key` of at least 16 characters"
        )
    return data["key"].encode()


async def _object_store(
    config: OperatorConfig, kube: kube_api.KubeApi, logger: kopf.Logger
) -> tuple[object_store.S3Settings | None, object_store.ObjectStore | None]:
    """The object store from config; credentials from the referenced Secret only."""
    if not config.s3_endpoint:
        logger.warning("PACE_S3_ENDPOINT is not set: models cannot be trained or registered")
        return None, None
    access = secret = ""
    if config.s3_credentials_secret:
        namespace, name = config.s3_credentials_secret
        data = await asyncio.to_thread(kube.read_secret, namespace, name)
        missing = [k for k in ("accessKey", "secretKey") if k not in data]
        if missing:
            raise kopf.PermanentError(f"Secret {namespace}/{name} lacks key(s) {missing}")
        access, secret = data["accessKey"], data["secretKey"]
    settings = object_store.S3Settings(
        endpoint=config.s3_endpoint,
        bucket=config.s3_bucket,
        access_key=access,
        secret_key=secret,
        secure=config.s3_secure,
    )
    store = object_store.ObjectStore(settings)
    await asyncio.to_thread(store.ensure_bucket)
    logger.info("object store %s, bucket %s", settings.endpoint, settings.bucket)
    return settings, store


def _store_users(
    config: OperatorConfig, settings: object_store.S3Settings | None
) -> store_users.StoreUsers | None:
    """The admin client that makes each namespace's read-only serving user (scoped serving
    credentials only), signed in with the operator's own keys."""
    if config.serving_credentials != serving_credentials.SCOPED or settings is None:
        return None
    return store_users.StoreUsers(
        endpoint=settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=settings.secure,
    )


def _pipeline_backend(config: OperatorConfig) -> pipeline_backend.PipelineBackend:
    if config.pipeline_backend == "kfp":
        assert config.kfp_endpoint is not None
        assert config.s3_endpoint is not None
        steps = pipeline_plan.StepSettings(
            s3_endpoint=config.s3_endpoint,
            s3_bucket=config.s3_bucket,
            s3_secure=config.s3_secure,
            credentials_secret=config.kfp_s3_secret,
        )
        return pipeline_backend.KfpBackend(config.kfp_endpoint, steps=steps)
    return pipeline_backend.LocalBackend(config.pipeline_dir / "runs")


HEAP_TRIM_SECONDS = 30.0
HEAP_TICK = 0.5
FULL_COLLECTION_PATIENCE = 60.0
"""The longest full collections are held back for one wave of objects (memory bound)."""


async def _tend_heap(backlog: reconciler.Backlog) -> None:
    """The operator's heap (`pace.adapters.heap`): full collections held while a backlog of
    first looks lasts (until it has been quiet for BACKLOG_QUIET, at most
    FULL_COLLECTION_PATIENCE); and every 30 s the heap's freed pages handed back to the OS:
    after a thousand objects arrived together, RSS otherwise stays at the wave's peak."""
    loop = asyncio.get_running_loop()
    trim_at = loop.time() + HEAP_TRIM_SECONDS
    held = False
    try:
        while True:
            busy = not backlog.clear(patience=FULL_COLLECTION_PATIENCE)
            if busy != held:
                heap.hold_full_collections(busy)
                held = busy
            if loop.time() >= trim_at:
                await asyncio.to_thread(heap.trim)
                trim_at = loop.time() + HEAP_TRIM_SECONDS
            await asyncio.sleep(HEAP_TICK)
    finally:
        if held:
            heap.hold_full_collections(False)


@kopf.on.cleanup()
async def flush_sink(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Flush every acknowledged inference record before the operator exits; stop the warm
    step server (runs in flight go on); close the API connections."""
    if isinstance(getattr(memo, "backend", None), pipeline_backend.LocalBackend):
        if getattr(memo, "warming", None) is not None:
            # Its failure was logged when it happened; it must not hold the shutdown up.
            with contextlib.suppress(Exception):
                await memo.warming
        await asyncio.to_thread(memo.backend.stop_warm)
    if getattr(memo, "sink", None) is not None:
        await memo.sink.close(memo.sink_runner)
        logger.info("inference log sink flushed (%d rows written)", memo.sink.written_rows)
    if getattr(memo, "heap_tender", None) is not None:
        memo.heap_tender.cancel()
    if getattr(memo, "kube", None) is not None:
        await memo.kube.aio.close()


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """Credentials from $KUBECONFIG read at login time (kopf's default reads it at import),
    or the in-cluster service account."""
    config = kube_api.load_client().configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    scheme, _sep, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        trust_env=settings.networking.trust_env,
    )


@kopf.on.probe(id="operator")
def probe(**_: Any) -> str:
    """Liveness: the event loop answers."""
    return "ok"


def _version() -> str:
    from pace import __version__

    return __version__
