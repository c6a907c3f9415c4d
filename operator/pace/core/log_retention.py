"""How long a model's inference log is kept, and how often it is swept (pure).

The spec's ``retention.inferenceLog`` is a floor the API server already holds above the
model's own duration windows (CEL rules on MLModelSpec); a DriftMonitor reading the model's
log over a longer duration raises it, so expiry never cuts a window something still reads.
Row-count windows are not raised for: they read the newest rows that are kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModelSpec
from pace.core import durations

MIN_SWEEP_SECONDS = 10.0
MAX_SWEEP_SECONDS = 3600.0


def keep_seconds(spec: MLModelSpec, monitors: Iterable[DriftMonitor]) -> float:
    """Seconds of log to keep: the spec's retention, or the longest duration window one of
    the model's monitors reads from its log (a monitor with its own ``source.uri`` reads
    elsewhere and does not count)."""
    keep = durations.seconds(spec.retention.inference_log)
    for monitor in monitors:
        source = monitor.spec.source
        if source.uri is None and source.window.duration is not None:
            keep = max(keep, durations.seconds(source.window.duration))
    return keep


def sweep_interval(keep: float) -> float:
    """Seconds between sweeps: a tenth of the retention, between 10 s and an hour (expired
    batches outlive the retention by at most this much)."""
    return min(MAX_SWEEP_SECONDS, max(MIN_SWEEP_SECONDS, keep / 10))
