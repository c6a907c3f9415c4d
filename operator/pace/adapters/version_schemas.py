"""The schema of a registered version, as the inference sink checks logged rows against it: read
from the version's drift reference metadata (``reference.json``) in the registry.

The sink knows a row's namespace, model and version (from the logger URL), not the model's uid,
so it looks under each uid folder of ``models/<namespace>/<model>/``; when a model was deleted
and created again under the same name, the newest reference of that version wins.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pace.adapters.object_store import ObjectStore
from pace.core import naming, sink_schema

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_key(store: ObjectStore, namespace: str, model: str, version: str) -> str | None:
    """The newest ``reference.json`` of this version under any uid of the model (None when the
    version has no reference)."""
    base = naming.model_prefix(namespace=namespace, model=model)
    tail = f"versions/{version}/{naming.ARTIFACTS['reference_meta']}"
    folders = [f for f in store.list(base, recursive=False) if f.endswith("/")]
    candidates = [base + tail] if base + "versions/" in folders else []
    candidates += [f + tail for f in folders if f != base + "versions/"]
    found = [item for key in candidates for item in store.list_modified_after(key, _EPOCH)]
    found = [(key, at) for key, at in found if key in candidates]
    return max(found, key=lambda item: item[1])[0] if found else None


def schema_of(
    store: ObjectStore, namespace: str, model: str, version: str
) -> sink_schema.Schema | None:
    """The version's schema, or None when it has no reference in the registry."""
    key = reference_key(store, namespace, model, version)
    if key is None:
        return None
    return sink_schema.from_reference(store.get_json(key), version=version)
