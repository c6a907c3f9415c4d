"""kopf's diff-base, without copying what it throws away.

kopf builds an object's "essence" (what its change handlers compare) on every watch event of
every object: a deep copy of the whole body (status and managedFields included) from which
it then deletes status and metadata. At a thousand objects that copy was a twentieth of the
operator's CPU. `LeanDiffBaseStorage` gives kopf's `build` a body without those parts (a
shallow selection; kopf copies the rest itself): the essence is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

KEPT_METADATA = ("labels", "annotations", "ownerReferences")
"""The metadata kopf reads for the essence (ownerReferences: its key naming); the rest of
metadata, and the status, it deletes."""


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        if extra_fields:  # they may name status fields: kopf's own way
            return super().build(body=body, extra_fields=extra_fields)
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean(body))), extra_fields=None)


def lean(body: Any) -> dict[str, Any]:
    """``body`` without status and with only the metadata the essence keeps (not copied)."""
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in KEPT_METADATA if k in meta}
    return {
        **{k: v for k, v in body.items() if k not in ("status", "metadata")},
        "metadata": kept,
    }
