"""What every handler does at its end: one status patch, events, metrics.

Shared by the per-kind handler modules so none of them repeats it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.adapters import events, metrics
from pace.api import conditions, constants
from pace.api.conditions import Condition, ConditionType
from pace.core import references, status

Handler = Callable[..., Awaitable[None]]


def instrumented(kind: str) -> Callable[[Handler], Handler]:
    """Record reconcile duration and errors (by exception class) for a handler."""

    def decorate(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> None:
            started = time.perf_counter()
            try:
                await fn(**kwargs)
            except kopf.TemporaryError:
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason="Temporary").inc()
                raise
            except kopf.PermanentError:
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason="Permanent").inc()
                raise
            except Exception:
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason="Unexpected").inc()
                raise
            finally:
                metrics.RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)

        return wrapper

    return decorate


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
        events.post_transitions(body, status.transitions(before, after))
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


def invalid_spec_message(exc: pydantic.ValidationError) -> str:
    """'<field.path>: <problem>' for each error, with the camelCase names the user wrote."""
    parts = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        parts.append(f"{path}: {err['msg']}")
    return "invalid spec: " + "; ".join(parts)


async def reconcile_references(
    *,
    kind: str,
    body: Any,
    patch: kopf.Patch,
    memo: Any,
    refs: Sequence[tuple[str, str, str, str]],
    retry: int,
    ready_message: str,
    raise_on_missing: bool,
) -> bool:
    """Check that referenced objects exist; report ModelFound/Ready; back off when missing.

    ``refs`` holds (plural, kind, name, field) per reference. Returns True when all exist.
    """
    now = datetime.now(UTC)
    meta = body["metadata"]
    generation = int(meta.get("generation", 0))
    missing = []
    for plural, ref_kind, name, field in refs:
        if await memo.kube.aget_object(plural, meta["namespace"], name) is None:
            missing.append(references.MissingRef(kind=ref_kind, name=name, field=field))
    updates = references.reference_conditions(
        missing,
        namespace=meta["namespace"],
        generation=generation,
        now=now,
        ready_message=ready_message,
    )
    report(
        kind=kind,
        body=body,
        patch=patch,
        before=conditions.parse_conditions(dict(body.get("status") or {})),
        updates=updates,
        generation=generation,
    )
    if missing and raise_on_missing:
        raise kopf.TemporaryError(updates[0].message, delay=references.retry_delay(retry))
    return not missing


RefsOf = Callable[[Any], Sequence[tuple[str, str, str, str]]]


def watch_references(
    *, plural: str, kind: str, refs: RefsOf, ready_message: str, recheck_seconds: float = 30.0
) -> None:
    """Register, for one kind, the spec handler (create/update/resume; retries with backoff
    while a reference is missing) and a timer noticing references created or deleted later.
    ``refs`` parses the body and lists (plural, kind, name, field) per reference."""
    resource = (constants.GROUP, constants.VERSION, plural)

    async def reconcile_references_on_spec(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any
    ) -> None:
        await reconcile_references(
            kind=kind,
            body=body,
            patch=patch,
            memo=memo,
            refs=refs(body),
            retry=retry,
            ready_message=ready_message,
            raise_on_missing=True,
        )

    async def recheck_references(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
    ) -> None:
        await reconcile_references(
            kind=kind,
            body=body,
            patch=patch,
            memo=memo,
            refs=refs(body),
            retry=0,
            ready_message=ready_message,
            raise_on_missing=False,
        )

    on_spec = instrumented(kind)(reconcile_references_on_spec)
    for register in (kopf.on.resume, kopf.on.create, kopf.on.update):
        register(*resource, id="references")(on_spec)
    kopf.timer(
        *resource, id="recheck-references", interval=recheck_seconds, initial_delay=recheck_seconds
    )(instrumented(kind)(recheck_references))
