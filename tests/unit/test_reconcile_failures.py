"""How a failed reconcile is shown on the object, and cleared (pure parts of the loop)."""

from __future__ import annotations

from typing import Any

import kopf

from pace.handlers import reconciler


def _object(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ns", "generation": 3},
        "status": {"conditions": list(conditions)},
    }


READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Serving",
    "message": "v1 is serving.",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def test_a_new_error_is_written_once_beside_the_other_conditions() -> None:
    patch = reconciler.failure_patch(_object(READY), "OSError: disk full")
    assert patch is not None
    shown = {c["type"]: c for c in patch["status"]["conditions"]}
    assert shown["Ready"] == READY
    assert shown["Reconciled"]["status"] == "False"
    assert shown["Reconciled"]["reason"] == "ReconcileError"
    assert shown["Reconciled"]["message"] == "OSError: disk full"
    assert shown["Reconciled"]["observedGeneration"] == 3
    assert "observedGeneration" not in patch["status"]  # the spec was not acted on
    # The same error again writes nothing; another one does.
    failing = _object(READY, shown["Reconciled"])
    assert reconciler.failure_patch(failing, "OSError: disk full") is None
    assert reconciler.failure_patch(failing, "OSError: gone") is not None


def test_the_next_successful_look_clears_it_on_top_of_its_own_move() -> None:
    failed = reconciler.failure_patch(_object(READY), "OSError: disk full")
    assert failed is not None
    failing = _object(*failed["status"]["conditions"])
    patch = kopf.Patch()
    reconciler.recovery(failing, patch)
    shown = {c["type"]: c for c in patch.status["conditions"]}
    assert (shown["Reconciled"]["status"], shown["Reconciled"]["reason"]) == ("True", "Recovered")
    # A move's own conditions are kept.
    moved = kopf.Patch()
    moved.status["conditions"] = [{**READY, "status": "False", "reason": "PredictorFailed"}]
    reconciler.recovery(failing, moved)
    kept = {c["type"]: c for c in moved.status["conditions"]}
    assert kept["Ready"]["reason"] == "PredictorFailed"
    assert kept["Reconciled"]["status"] == "True"
    # Nothing to clear: nothing written.
    untouched = kopf.Patch()
    reconciler.recovery(_object(READY), untouched)
    assert dict(untouched) == {}


def test_the_message_names_the_error_and_is_kept_short() -> None:
    assert reconciler.failure_message(ValueError("bad")) == "ValueError: bad"
    long = reconciler.failure_message(RuntimeError("x" * 5000))
    assert len(long) == reconciler.MAX_ERROR_MESSAGE
    assert long.endswith("…")
