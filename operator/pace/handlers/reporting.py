"""What every handler does at its end: one status patch, events, metrics.

Shared by the per-kind handler modules so none of them repeats it.
"""

from __future__ import annotations

import time
from collections import ChainMap
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import kopf
import pydantic

from pace.adapters import events, metrics
from pace.api import conditions, constants
from pace.api.conditions import Condition, ConditionType, Reason
from pace.core import merge_patch, references, status
from pace.handlers import indexes


def report(
    *,
    kind: str,
    body: Any,
    patch: kopf.Patch,
    before: Sequence[Condition],
    updates: Sequence[Condition],
    generation: int,
    fields: dict[str, Any] | None = None,
    post_events: bool = True,
) -> list[Condition]:
    """Apply condition updates to the patch with observedGeneration; post transition events.

    Returns the full new condition list, so callers can derive a phase from it.
    """
    after = status.set_conditions(before, updates)
    patch.status["conditions"] = status.conditions_to_k8s(after)
    patch.status["observedGeneration"] = generation
    for key, value in (fields or {}).items():
        patch.status[key] = value
    if post_events:
        # A condition's first appearance is announced only when it is bad news (not where
        # every new object starts): the first conditions of a thousand new objects would
        # otherwise be thousands of events.
        events.post_transitions(
            body,
            [
                c
                for c in status.transitions(before, after)
                if status.find(before, c.type) is not None
                or (events.is_warning(c) and c.reason not in conditions.STARTING_REASONS)
            ],
        )
    meta = body["metadata"]
    metrics.OBJECTS_READY.labels(kind=kind, namespace=meta["namespace"], name=meta["name"]).set(
        1 if status.is_true(after, ConditionType.READY) else 0
    )
    return after


def report_model(
    *,
    body: Any,
    patch: kopf.Patch,
    before: Sequence[Condition],
    updates: Sequence[Condition],
    generation: int,
    post_events: bool = True,
) -> list[Condition]:
    """`report` for an MLModel, plus the phase derived from the new conditions."""
    after = report(
        kind=constants.MLMODEL_KIND,
        body=body,
        patch=patch,
        before=before,
        updates=updates,
        generation=generation,
        post_events=post_events,
    )
    patch.status["phase"] = status.derive_phase(after)
    return after


def show_model_condition(model: Any, body: Any, patch: kopf.Patch, new: Condition | None) -> None:
    """`report_model` of one condition, only when its status, reason or message changed
    (None: nothing to show)."""
    if new is None:
        return
    old = status.find(model.status.conditions, new.type)
    if old is not None and (old.status, old.reason, old.message) == (
        new.status,
        new.reason,
        new.message,
    ):
        return
    report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=[new],
        generation=model.generation,
    )


def invalid_spec_message(exc: pydantic.ValidationError) -> str:
    """'<field.path>: <problem>' for each error, with the camelCase names the user wrote."""
    parts = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        parts.append(f"{path}: {err['msg']}")
    return "invalid spec: " + "; ".join(parts)


Ref = tuple[str, str, str, str]  # (plural, kind, name, field)
_INDEX_OF = {
    constants.MLMODEL_PLURAL: indexes.MLMODELS,
    constants.DRIFT_MONITOR_PLURAL: indexes.MONITORS,
}


REFERENCE_GRACE = 10.0
"""Seconds a new object waits for the objects it refers to before it says they are missing."""
LOOKED_UP = "references-looked-up"
LOOKED_UP_TTL = 30.0
"""Seconds an object read from the API server stands in for the index's missing entry."""


def _missing(found: dict[str, Any], namespace: str, refs: Sequence[Ref]) -> list[Ref]:
    return [
        ref for ref in refs if indexes.one(found, _INDEX_OF[ref[0]], (namespace, ref[2])) is None
    ]


def reference_grace(*, body: Any, now: datetime, seen_at: datetime | None = None) -> float | None:
    """Seconds a new object (no conditions yet, created less than REFERENCE_GRACE ago) still
    waits for missing references before it reports them (None: report now). Counted from
    when this operator first saw it (``seen_at``) when that is later: an operator whose watch
    runs behind (a wave of objects, or a restart) sees the references late as well, and would
    otherwise read each one from the API server, adding to the load that put it behind."""
    if (body.get("status") or {}).get("conditions"):
        return None
    created = body["metadata"].get("creationTimestamp")
    if not created:
        return None
    since = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    if seen_at is not None:
        since = max(since, seen_at)
    age = (now - since).total_seconds()
    left = min(REFERENCE_GRACE, REFERENCE_GRACE - age)
    return left if left > 0 else None


async def look_up_references(
    *,
    body: Any,
    found: dict[str, Any],
    refs: Sequence[Ref],
    now: datetime,
    invalid: str | None,
    kube: Any,
    remembered: dict[Any, Any] | None = None,
    seen_at: datetime | None = None,
) -> tuple[float | None, dict[str, Any]]:
    """(seconds to wait before reporting the references — None: report them now; the indexes
    to report them from).

    A new object (`reference_grace`, from ``seen_at``: when the object's loop first saw it)
    whose references are missing waits quietly for the
    watch to bring them, making no request: objects applied together (``kubectl apply -f
    dir/``, or a thousand at once, when one kind's watch runs seconds behind another's) often
    show a monitor before its model, and the model's arrival wakes it; this spares a GET per
    object in such a wave, and a ModelNotFound with a Warning event and Ready a moment later.
    Past its grace, a reference missing from the indexes is looked up in the API server
    before it is reported: an object the API server has is found, not "not found" (what it
    returns is added to the indexes for this look); one missing there too is reported. No
    request is made when the object already says the reference is missing, or when its spec
    cannot work (``invalid``: reported at once);
    an object found is remembered (in ``remembered``, the loop's scratch) for LOOKED_UP_TTL,
    so the looks that follow, while the watch is still behind, do not ask again; it is
    forgotten once the index has it."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    missing = _missing(found, namespace, refs)
    looked_up: dict[Any, Any] = {}
    if remembered is not None:
        looked_up = remembered.setdefault(LOOKED_UP, {})
        for gone in set(looked_up) - {(plural, name) for plural, _k, name, _f in missing}:
            del looked_up[gone]  # the index has it now: nothing kept for it
    if not missing or invalid is not None:
        return None, found
    shown = status.find(
        conditions.parse_conditions(dict(body.get("status") or {})), ConditionType.MODEL_FOUND
    )
    if shown is not None and shown.status == "False":
        return None, found
    grace = reference_grace(body=body, now=now, seen_at=seen_at)
    if grace is not None:
        return grace, found
    fetched: dict[str, dict[Any, list[dict[str, Any]]]] = {}
    for plural, _kind, name, _field in missing:
        at, obj = looked_up.get((plural, name), (0.0, None))
        if obj is None or time.monotonic() - at > LOOKED_UP_TTL:
            read = await kube.aget_object(plural, namespace, name)
            obj = indexes.kept(read) if read is not None else None
            if obj is not None:
                looked_up[(plural, name)] = (time.monotonic(), obj)
        if obj is not None:
            fetched.setdefault(_INDEX_OF[plural], {})[(namespace, name)] = [obj]
    if fetched:
        found = {
            **found,
            **{index: ChainMap(objs, found.get(index) or {}) for index, objs in fetched.items()},
        }
    return None, found


def check_references(
    *,
    kind: str,
    body: Any,
    patch: kopf.Patch,
    found: dict[str, Any],
    refs: Sequence[Ref],
    ready_message: str,
    now: datetime,
    invalid: str | None = None,
) -> bool:
    """Report ModelFound/Ready for the objects a resource refers to, looked up in the indexes
    (no API request); True when all exist. A missing object's creation wakes the resource.

    ``invalid`` (a part of the spec that cannot work) keeps Ready False with InvalidSpec; its
    Warning event is posted when the condition turns so, and again when its message changes
    (another mistake), never on a look that finds the same one."""
    meta = body["metadata"]
    generation = int(meta.get("generation", 0))
    missing = [
        references.MissingRef(kind=ref_kind, name=name, field=field)
        for _plural, ref_kind, name, field in _missing(found, meta["namespace"], refs)
    ]
    updates = references.reference_conditions(
        missing,
        namespace=meta["namespace"],
        generation=generation,
        now=now,
        ready_message=ready_message,
        invalid=invalid,
    )
    before = conditions.parse_conditions(dict(body.get("status") or {}))
    after = report(
        kind=kind,
        body=body,
        patch=patch,
        before=before,
        updates=updates,
        generation=generation,
    )
    shown, ready = status.find(before, ConditionType.READY), status.find(after, ConditionType.READY)
    if (
        shown is not None
        and ready is not None
        and ready.reason == Reason.INVALID_SPEC
        and (shown.status, shown.reason) == (ready.status, ready.reason)
        and shown.message != ready.message
    ):
        events.post_transitions(body, [ready])  # a new status or reason: `report` posted it
    return not missing


def references_move(
    *,
    kind: str,
    body: Any,
    found: dict[str, Any],
    refs: Sequence[Ref],
    ready_message: str,
    now: datetime,
    invalid: str | None = None,
) -> tuple[bool, dict[str, Any]]:
    """(whether every referenced object exists, the patch that reports it — empty when the
    stored conditions already say so): the first move of the DriftMonitor and RetrainPolicy
    reconciles. ``invalid``: see `check_references`."""
    moved = kopf.Patch()
    ok = check_references(
        kind=kind,
        body=body,
        patch=moved,
        found=found,
        refs=refs,
        ready_message=ready_message,
        now=now,
        invalid=invalid,
    )
    return ok, dict(moved) if merge_patch.changes(body, dict(moved)) else {}


def report_invalid_spec(
    *, kind: str, body: Any, patch: kopf.Patch, exc: pydantic.ValidationError, now: datetime
) -> None:
    """Ready=False with InvalidSpec naming the fields, for kinds without a SpecValid condition."""
    generation = int(body["metadata"].get("generation", 0))
    report(
        kind=kind,
        body=body,
        patch=patch,
        before=conditions.parse_conditions(dict(body.get("status") or {})),
        updates=[
            status.condition(
                ConditionType.READY,
                "False",
                Reason.INVALID_SPEC,
                invalid_spec_message(exc),
                generation=generation,
                now=now,
            )
        ],
        generation=generation,
    )
