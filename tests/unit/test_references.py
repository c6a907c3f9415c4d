"""Reference conditions name what is missing; the retry delay backs off and is capped."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pace.core import references
from pace.handlers import reporting

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_missing_model_is_named_in_both_conditions() -> None:
    conds = references.reference_conditions(
        [references.MissingRef(kind="MLModel", name="wine", field="spec.modelRef")],
        namespace="team-a",
        generation=3,
        now=NOW,
        ready_message="ok",
    )
    assert [(c.type, c.status, c.reason) for c in conds] == [
        ("ModelFound", "False", "ModelNotFound"),
        ("Ready", "False", "ModelNotFound"),
    ]
    assert "MLModel 'wine' (spec.modelRef) not found in namespace 'team-a'" in conds[0].message
    assert all(c.observed_generation == 3 for c in conds)


def test_missing_monitor_has_its_own_reason() -> None:
    conds = references.reference_conditions(
        [references.MissingRef(kind="DriftMonitor", name="d", field="spec.triggers.drift")],
        namespace="n",
        generation=1,
        now=NOW,
        ready_message="ok",
    )
    assert conds[1].reason == "MonitorNotFound"


def test_all_found_is_ready() -> None:
    conds = references.reference_conditions(
        [], namespace="n", generation=1, now=NOW, ready_message="armed"
    )
    assert [(c.type, c.status) for c in conds] == [("ModelFound", "True"), ("Ready", "True")]
    assert conds[1].message == "armed"


def test_retry_delay_doubles_and_caps() -> None:
    assert [references.retry_delay(r) for r in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_a_part_of_the_spec_that_cannot_work_keeps_ready_false() -> None:
    broken = "spec.triggers.schedule.cron: '99 * * * *' cannot be scheduled"
    conds = references.reference_conditions(
        [], namespace="n", generation=4, now=NOW, ready_message="armed", invalid=broken
    )
    assert [(c.type, c.status, c.reason) for c in conds] == [
        ("ModelFound", "True", "ModelFound"),
        ("Ready", "False", "InvalidSpec"),
    ]
    assert conds[1].message == broken
    assert conds[1].observed_generation == 4
    # A missing model is the first thing to fix; the broken part is still named.
    both = references.reference_conditions(
        [references.MissingRef(kind="MLModel", name="m", field="spec.modelRef")],
        namespace="n",
        generation=4,
        now=NOW,
        ready_message="armed",
        invalid=broken,
    )
    assert both[1].reason == "ModelNotFound"
    assert both[1].message.endswith("; " + broken)


def test_a_new_object_has_a_grace_before_it_reports_what_is_missing() -> None:
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    meta = {"name": "m", "namespace": "ns", "creationTimestamp": "2026-01-01T12:00:00Z"}

    def grace(at: datetime, status: dict[str, Any] | None = None) -> float | None:
        body = {"metadata": meta, **({"status": status} if status else {})}
        return reporting.reference_grace(body=body, now=at)

    assert grace(created + timedelta(seconds=3)) == 7.0
    assert grace(created + timedelta(seconds=10)) is None  # then it says so
    assert grace(created - timedelta(seconds=30)) == reporting.REFERENCE_GRACE  # clock skew
    # Not new: it has reported before.
    assert grace(created, status={"conditions": [{"type": "Ready"}]}) is None


def test_the_grace_counts_from_when_the_operator_first_saw_the_object() -> None:
    """An operator whose watch runs behind (a wave, a restart) sees an object long after its
    creation; its references come as late, so the grace starts when the object was seen."""
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    body = {
        "metadata": {"name": "m", "namespace": "ns", "creationTimestamp": "2026-01-01T12:00:00Z"}
    }
    seen = created + timedelta(seconds=25)
    at = seen + timedelta(seconds=4)
    assert reporting.reference_grace(body=body, now=at) is None  # from creation: past
    assert reporting.reference_grace(body=body, now=at, seen_at=seen) == 6.0
    # Seen before it was created (clock skew): the creation counts.
    early = created - timedelta(seconds=5)
    assert (
        reporting.reference_grace(body=body, now=created + timedelta(seconds=3), seen_at=early)
        == 7.0
    )
