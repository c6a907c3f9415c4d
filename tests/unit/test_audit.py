"""Audit events (pure): keys per writer, records, gate results, and the history table."""

from datetime import UTC, datetime

from pace.api.mlmodel import TrainingRun, VersionRecord
from pace.core import audit, tables

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_keys_are_per_writer_and_sortable() -> None:
    assert (
        audit.key("ns", "wine", source=audit.model_source("0a1b2c3d-44"), seq=7, type_="Promoted")
        == "audit/ns/wine/mlmodel-0a1b2c3d/00000007-Promoted.json"
    )
    policy = audit.policy_source("nightly", "99887766-55")
    assert audit.key("ns", "wine", source=policy, seq=1, type_="RetrainTriggered").startswith(
        "audit/ns/wine/retrainpolicy-nightly-99887766/00000001-"
    )


def test_gate_failure_says_which_gate_and_keeps_serving() -> None:
    record = VersionRecord(version="v2", stage="rejected", metrics={"accuracy": 0.91})
    gates = {"passed": False, "failures": ["accuracy improvement +0.0000 < minDelta 0.05"]}
    event = audit.version_registered(record, gates, serving="v1", run="wine-v2-abc")
    assert event.type == "GateFailed"
    assert "minDelta 0.05" in event.message
    assert event.serving == "v1"
    stored = audit.record(event, namespace="ns", model="wine", source="mlmodel", seq=3, time=T0)
    assert stored["details"]["gates"] == gates
    assert stored["time"] == "2026-06-01T12:00:00+00:00"


def test_run_started_records_the_trigger_and_request() -> None:
    run = TrainingRun(
        run="wine-v2-abc",
        version="v2",
        spec_hash="abc",
        trigger="drift: wine reported drift",
        backend="local",
        state="Pending",
        request="wine#1",
        auto_promote=False,
    )
    event = audit.run_started(run, serving="v1")
    assert event.details["request"] == "wine#1"
    assert event.details["autoPromote"] is False
    assert "drift: wine" in event.message


def test_history_orders_by_time_and_formats_a_table() -> None:
    def rec(time: str, source: str, seq: int, type_: str, serving: str | None) -> dict[str, object]:
        return {
            "time": time,
            "source": source,
            "seq": seq,
            "type": type_,
            "version": "v2",
            "serving": serving,
            "message": "m" * 150 if type_ == "Promoted" else "short",
        }

    records = [
        rec("2026-06-01T12:00:05+00:00", "mlmodel", 2, "Promoted", "v2"),
        rec("2026-06-01T12:00:01+00:00", "retrainpolicy-p", 1, "RetrainTriggered", "v1"),
        rec("2026-06-01T12:00:01+00:00", "mlmodel", 1, "TrainingStarted", "v1"),
    ]
    rows = audit.history_rows(records, width=20)
    assert [r[1] for r in rows] == ["TrainingStarted", "RetrainTriggered", "Promoted"]
    assert rows[2][4] == "m" * 17 + "..."
    table = tables.format_table(audit.HISTORY_COLUMNS, rows[:1])
    assert table == (
        "TIME                  EVENT             VERSION   SERVING   MESSAGE\n"
        "2026-06-01 12:00:01   TrainingStarted   v2        v1        short\n"
    )
