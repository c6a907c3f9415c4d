"""Condition semantics (apimachinery SetStatusCondition) and the derived phase."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.conditions import Condition, ConditionType, Reason
from pace.core import status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def cond(
    type_: str, state: str, reason: str = "R", *, now: datetime = T0, generation: int = 1
) -> Condition:
    return status.condition(
        type_,
        state,
        reason,
        "m",
        generation=generation,  # type: ignore[arg-type]
        now=now,
    )


def test_new_condition_is_appended() -> None:
    result = status.set_condition([], cond("Ready", "False"))
    assert [c.type for c in result] == ["Ready"]


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    before = [cond("Ready", "False", "Old", now=T0, generation=1)]
    after = status.set_condition(before, cond("Ready", "False", "New", now=T1, generation=2))
    assert after[0].last_transition_time == T0
    assert after[0].reason == "New"
    assert after[0].observed_generation == 2
    assert before[0].reason == "Old"  # input untouched


def test_status_change_moves_transition_time() -> None:
    before = [cond("Ready", "False", now=T0)]
    after = status.set_condition(before, cond("Ready", "True", now=T1))
    assert after[0].last_transition_time == T1
    assert after[0].status == "True"


def test_other_conditions_are_kept_in_order() -> None:
    before = [cond("A", "True"), cond("B", "True"), cond("C", "True")]
    after = status.set_condition(before, cond("B", "False", now=T1))
    assert [(c.type, c.status) for c in after] == [("A", "True"), ("B", "False"), ("C", "True")]


def test_transitions_report_new_and_changed_only() -> None:
    before = [cond("A", "True"), cond("B", "True", "X")]
    after = status.set_conditions(
        before, [cond("A", "True"), cond("B", "True", "Y"), cond("C", "False")]
    )
    assert [c.type for c in status.transitions(before, after)] == ["B", "C"]


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], "Pending"),
        ([cond("SpecValid", "False", Reason.INVALID_SPEC)], "Failed"),
        ([cond("Trained", "Unknown", "Pending")], "Pending"),
        ([cond("Trained", "Unknown", "Training")], "Training"),
        ([cond("Trained", "False", "TrainingFailed")], "Failed"),
        ([cond("Trained", "True"), cond("Validated", "Unknown")], "Validating"),
        ([cond("Trained", "True"), cond("Validated", "False")], "Failed"),
        ([cond("Ready", "True")], "Serving"),
        ([cond("Ready", "True"), cond("CanaryHealthy", "True", "Progressing")], "Canary"),
        ([cond("Ready", "True"), cond("DriftDetected", "True")], "Degraded"),
    ],
)
def test_derive_phase(conditions: list[Condition], phase: str) -> None:
    assert status.derive_phase(conditions) == phase


def test_is_true_and_find() -> None:
    conds = [cond(ConditionType.READY, "True")]
    assert status.is_true(conds, ConditionType.READY)
    assert not status.is_true(conds, ConditionType.TRAINED)
    assert status.find(conds, ConditionType.TRAINED) is None
