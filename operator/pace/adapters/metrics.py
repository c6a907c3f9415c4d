"""Every pace_* Prometheus metric of the operator, and the /metrics server.

Label sets stay bounded: kind, namespace, model, monitor, feature, version, result.
Nothing here runs at import time except defining the metric objects in one registry.
"""

from __future__ import annotations

import prometheus_client

REGISTRY = prometheus_client.CollectorRegistry(auto_describe=True)

RECONCILE_SECONDS = prometheus_client.Histogram(
    "pace_reconcile_duration_seconds",
    "Time spent in one reconcile, by resource kind.",
    ["kind"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = prometheus_client.Counter(
    "pace_reconcile_errors_total",
    "Reconciles that ended in an error, by kind and reason.",
    ["kind", "reason"],
    registry=REGISTRY,
)
RECONCILE_LOOPS = prometheus_client.Gauge(
    "pace_reconcile_loops",
    "Objects whose reconcile loop is running, by kind (one loop per object).",
    ["kind"],
    registry=REGISTRY,
)
STATUS_WRITES = prometheus_client.Counter(
    "pace_status_writes_total",
    "Conditional writes (status and annotations) made by the reconcilers, by kind.",
    ["kind"],
    registry=REGISTRY,
)
TRAINING_QUEUE = prometheus_client.Gauge(
    "pace_training_queue_runs",
    "Training runs waiting for a slot (state=queued) or holding one (state=running).",
    ["state"],
    registry=REGISTRY,
)
OBJECTS_READY = prometheus_client.Gauge(
    "pace_object_ready",
    "1 when the object's Ready condition is True, else 0.",
    ["kind", "namespace", "name"],
    registry=REGISTRY,
)

PIPELINE_RUNS = prometheus_client.Counter(
    "pace_pipeline_runs_total",
    "Training pipeline runs by result (submitted, succeeded, rejected by a gate, failed).",
    ["namespace", "model", "result"],
    registry=REGISTRY,
)
BATCH_RUNS = prometheus_client.Counter(
    "pace_batch_runs_total",
    "Batch scoring runs by result (submitted, succeeded, failed, skipped).",
    ["namespace", "model", "result"],
    registry=REGISTRY,
)
BATCH_ROWS = prometheus_client.Counter(
    "pace_batch_rows_scored_total",
    "Rows scored by batch runs, by the version that scored them.",
    ["namespace", "model", "version"],
    registry=REGISTRY,
)
BATCH_FILES_FAILED = prometheus_client.Counter(
    "pace_batch_files_failed_total",
    "Input files a batch run could not score (each is tried again at the next run).",
    ["namespace", "model"],
    registry=REGISTRY,
)


_SERVERS: dict[tuple[str, int], int] = {}


def serve(port: int, address: str = "0.0.0.0") -> int:
    """Start the /metrics HTTP server in a thread; return the port it listens on.

    Idempotent per process: an operator restarted in the same process (tests) reuses it.
    """
    if port and (address, port) in _SERVERS:
        return _SERVERS[(address, port)]
    server, _thread = prometheus_client.start_http_server(port, addr=address, registry=REGISTRY)
    bound = int(server.server_address[1])
    _SERVERS[(address, port or bound)] = bound
    return bound


CANARY_WEIGHT = prometheus_client.Gauge(
    "pace_canary_weight",
    "Traffic percent on the canary predictor (0 when none).",
    ["namespace", "model"],
    registry=REGISTRY,
)
CANARY_CHECKS = prometheus_client.Counter(
    "pace_canary_checks_total",
    "Canary analysis runs by result (passed, failed, hold).",
    ["namespace", "model", "result"],
    registry=REGISTRY,
)
ROLLOUTS = prometheus_client.Counter(
    "pace_rollouts_total",
    "Rollout transitions: promoted, rolled_back, started, advanced.",
    ["namespace", "model", "result"],
    registry=REGISTRY,
)
SERVING_VERSION = prometheus_client.Gauge(
    "pace_serving_version_info",
    "1 for the version serving most traffic.",
    ["namespace", "model", "version"],
    registry=REGISTRY,
)
MODEL_METRIC = prometheus_client.Gauge(
    "pace_model_metric",
    "Evaluation metric of a registered version.",
    ["namespace", "model", "version", "metric"],
    registry=REGISTRY,
)
RETRAINS = prometheus_client.Counter(
    "pace_retrains_triggered_total",
    "Retrains requested by a RetrainPolicy, by the trigger that fired.",
    ["namespace", "policy", "trigger"],
    registry=REGISTRY,
)
DRIFT_DETECTED = prometheus_client.Gauge(
    "pace_drift_detected",
    "1 when the monitor's last check found drift.",
    ["namespace", "monitor"],
    registry=REGISTRY,
)
DRIFT_SHARE = prometheus_client.Gauge(
    "pace_drift_share",
    "Share of features that drifted at the last check (0-1).",
    ["namespace", "monitor"],
    registry=REGISTRY,
)
DRIFT_P_VALUE = prometheus_client.Gauge(
    "pace_drift_p_value",
    "p-value of a feature's drift test at the last check.",
    ["namespace", "monitor", "feature"],
    registry=REGISTRY,
)
DRIFT_DISTANCE = prometheus_client.Gauge(
    "pace_drift_distance",
    "Test statistic (distance) of a feature at the last check.",
    ["namespace", "monitor", "feature"],
    registry=REGISTRY,
)
LIVE_METRIC = prometheus_client.Gauge(
    "pace_live_metric",
    "A version's quality on labelled live traffic over spec.liveQuality.window.",
    ["namespace", "model", "version", "predictor", "metric"],
    registry=REGISTRY,
)
LIVE_LABELLED_ROWS = prometheus_client.Gauge(
    "pace_live_labelled_rows",
    "Labelled predictions a version's live metrics are computed on.",
    ["namespace", "model", "version", "predictor"],
    registry=REGISTRY,
)
LIVE_LABELS = prometheus_client.Gauge(
    "pace_live_labels",
    "Labels of the window by state: joined, duplicate, unmatched, pending.",
    ["namespace", "model", "state"],
    registry=REGISTRY,
)
LOG_EXPIRED = prometheus_client.Counter(
    "pace_inference_log_expired_batches_total",
    "Inference-log batches deleted from the bucket because they outlived the retention.",
    ["namespace", "model"],
    registry=REGISTRY,
)
SINK_REJECTED_ROWS = prometheus_client.Counter(
    "pace_inference_sink_rejected_rows_total",
    "Rows the inference sink refused (HTTP 400) because they did not fit their stream's schema.",
    ["namespace"],
    registry=REGISTRY,
)
SINK_BUFFERED_ROWS = prometheus_client.Gauge(
    "pace_inference_sink_buffered_rows",
    "Rows the inference sink holds, acknowledged and not yet written to the store.",
    registry=REGISTRY,
)
SINK_CAPACITY_ROWS = prometheus_client.Gauge(
    "pace_inference_sink_capacity_rows",
    "Rows the inference sink may hold before it answers 503 (backpressure).",
    registry=REGISTRY,
)
SINK_FULL = prometheus_client.Counter(
    "pace_inference_sink_full_total",
    "Requests the inference sink refused with 503 because its buffer was full.",
    registry=REGISTRY,
)
NOTIFICATIONS_SENT = prometheus_client.Counter(
    "pace_notifications_sent_total",
    "Audit events delivered to a webhook of spec.notifications.",
    ["namespace", "model", "webhook"],
    registry=REGISTRY,
)
NOTIFICATIONS_FAILED = prometheus_client.Counter(
    "pace_notifications_failed_total",
    "Failed attempts to deliver to a webhook of spec.notifications (each retried).",
    ["namespace", "model", "webhook"],
    registry=REGISTRY,
)
QUALITY_GATE = prometheus_client.Gauge(
    "pace_quality_gate",
    "A bound of spec.qualityGates (bound: min or max), for comparison with pace_live_metric.",
    ["namespace", "model", "metric", "bound"],
    registry=REGISTRY,
)
SINK_QUARANTINED_ROWS = prometheus_client.Counter(
    "pace_inference_sink_quarantined_rows_total",
    "Rows the inference sink could not encode and kept under the dead-letter prefix.",
    ["namespace", "model"],
    registry=REGISTRY,
)
