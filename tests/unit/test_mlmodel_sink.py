"""InferenceLogged: what a model shows of records the sink quarantined (handlers.mlmodel_sink)."""

from __future__ import annotations

from datetime import UTC, datetime

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api.mlmodel import MLModel
from pace.handlers import mlmodel_sink
from pace.inference_sink import InferenceSink

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
MODEL = MLModel.model_validate(
    {
        "name": "wine",
        "namespace": "team",
        "uid": "u-1",
        "generation": 3,
        "spec": {"task": "classification", "dataset": {"uri": "sklearn://wine", "target": "t"}},
    }
)


def sink() -> InferenceSink:
    settings = S3Settings(endpoint="minio:9000", bucket="pace", access_key="a", secret_key="b")
    return InferenceSink(ObjectStore(settings))


def test_nothing_is_shown_until_something_was_quarantined() -> None:
    assert mlmodel_sink.condition(sink(), MODEL, now=NOW) is None
    assert mlmodel_sink.condition(None, MODEL, now=NOW) is None


def test_a_quarantine_shows_false_until_batches_are_written_again() -> None:
    found = sink()
    lost = found.quarantined[("team", "wine")]
    lost.rows, lost.batches, lost.last_at = 5, 2, 100.0
    lost.last_key = "inference-logs-dead-letter/team/wine/main/requests/1-a.jsonl"
    lost.last_error = "ArrowTypeError: bad"
    shown = mlmodel_sink.condition(found, MODEL, now=NOW)
    assert shown is not None
    assert (shown.type, shown.status, shown.reason) == ("InferenceLogged", "False", "Quarantined")
    assert shown.message == (
        "5 row(s) in 2 batch(es) could not be encoded and were quarantined; the last is at "
        "s3://pace/inference-logs-dead-letter/team/wine/main/requests/1-a.jsonl "
        "(ArrowTypeError: bad)"
    )
    assert shown.observed_generation == 3
    found.written_at[("team", "wine")] = 101.0
    again = mlmodel_sink.condition(found, MODEL, now=NOW)
    assert again is not None
    assert (again.status, again.reason) == ("True", "Logging")
    assert again.message.startswith("batches are written again; earlier 5 row(s)")
