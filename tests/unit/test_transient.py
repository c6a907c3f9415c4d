"""Which step failures are retried: the store or network briefly away, never a bad spec."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.mlmodel import TrainingRun
from pace.core import training_runs, transient

T0 = datetime(2026, 1, 1, tzinfo=UTC)

TRANSIENT = [
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='127.0.0.1', port=9000): Max "
    "retries exceeded with url: /pace/models/x (Caused by NewConnectionError('<...>: Failed "
    "to establish a new connection: [Errno 111] Connection refused'))",
    "urllib3.exceptions.ProtocolError: ('Connection aborted.', RemoteDisconnected('Remote end "
    "closed connection without response'))",
    "minio.error.S3Error: S3 operation failed; code: XMinioServerNotInitialized, message: "
    "Server not initialized, please try again.",
    "minio.error.S3Error: S3 operation failed; code: SlowDown, message: Resource requested is "
    "unreadable, please reduce your request rate",
    "urllib3.exceptions.ReadTimeoutError: HTTPConnectionPool(host='minio', port=9000): Read "
    "timed out. (read timeout=300)",
    "minio.error.ServerError: server failed with HTTP status code 503 Service Unavailable",
]

PERMANENT = [
    "",
    None,
    "KeyError: \"target column 'no_such_column' is not in the dataset\"",
    "ValueError: Input X contains NaN.",
    "minio.error.S3Error: S3 operation failed; code: NoSuchKey, message: The specified key "
    "does not exist.",
    "minio.error.S3Error: S3 operation failed; code: AccessDenied, message: Access Denied.",
    "TypeError: __init__() got an unexpected keyword argument 'max_dept'",
    "RuntimeError: gate accuracy 0.61 < 0.9",
]


@pytest.mark.parametrize("message", TRANSIENT)
def test_store_and_network_hiccups_are_transient(message: str) -> None:
    assert transient.is_transient(message)


@pytest.mark.parametrize("message", PERMANENT)
def test_bad_specs_and_data_are_not(message: str | None) -> None:
    assert not transient.is_transient(message)


def _run(**changes: object) -> TrainingRun:
    return TrainingRun(
        run="m-v1-aaaa",
        version="v1",
        spec_hash="aaaa",
        trigger="create",
        backend="local",
        state="Running",
        step="register-model",
        submitted_at=T0,
    ).model_copy(update=changes)


def test_a_transient_failure_waits_with_backoff_then_is_resubmitted() -> None:
    reset = "ConnectionResetError: [Errno 104] Connection reset by peer"
    waiting = training_runs.retry_after_failure(
        _run(), failed_step="register-model", message=reset, now=T0
    )
    assert waiting is not None
    assert waiting.retry_at == T0 + timedelta(seconds=10)
    assert waiting.state == "Running"  # still in flight: no failure recorded, no audit event
    assert "'register-model'" in (waiting.message or "")
    assert "retry 1 of 4" in (waiting.message or "")
    # Asked again while waiting: the same wait, not a new one.
    again = training_runs.retry_after_failure(
        waiting, failed_step="register-model", message=reset, now=T0 + timedelta(seconds=5)
    )
    assert again is waiting
    resubmitted = training_runs.retried(waiting, now=T0 + timedelta(seconds=10))
    assert (resubmitted.retries, resubmitted.retry_at, resubmitted.state) == (1, None, "Pending")
    assert resubmitted.submitted_at == T0 + timedelta(seconds=10)
    # The third retry waits 40 s.
    third = training_runs.retry_after_failure(
        _run(retries=2), failed_step=None, message=reset, now=T0
    )
    assert third is not None
    assert third.retry_at == T0 + timedelta(seconds=40)


def test_retries_end_and_permanent_failures_stand() -> None:
    reset = "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert (
        training_runs.retry_after_failure(
            _run(retries=transient.MAX_RETRIES), failed_step=None, message=reset, now=T0
        )
        is None
    )
    assert (
        training_runs.retry_after_failure(
            _run(), failed_step="load-data", message="KeyError: 'no_such_column'", now=T0
        )
        is None
    )
