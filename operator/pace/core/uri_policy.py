"""Which ``s3://`` URIs in a user's spec the operator may read with its own keys (pure).

The operator reads datasets, fresh rows, drift references and watched prefixes with the
object-store keys it holds; a URI in a spec must therefore not reach what its author could
not read themselves (a confused deputy). A URI may name the operator's own bucket or a
bucket the configuration lists (``PACE_S3_READ_BUCKETS``); inside the operator's bucket, the
parts PACE keeps per namespace (``models/``, ``inference-logs/``, the dead-letter prefix,
``audit/``) may be read only for the object's own namespace.

Each problem is ``(field path, message)``, as `pace.core.spec_checks` reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pace.api.drift_monitor import DriftMonitorSpec
from pace.api.mlmodel import MLModelSpec
from pace.api.retrain_policy import RetrainPolicySpec

Problem = tuple[str, str]
# Prefixes of the operator's bucket that hold one namespace's data under <prefix>/<namespace>/
PER_NAMESPACE = ("models", "inference-logs", "inference-logs-dead-letter", "audit")
# Prefixes of the operator's bucket it keeps for itself (compiled pipelines, batch reports,
# notification cursors): never a user's output.
PACE_OWN = ("pipelines", "batch", "notifications")


@dataclass(frozen=True)
class ReadPolicy:
    """The buckets user URIs may name: the operator's own and the listed others."""

    own_bucket: str
    other_buckets: frozenset[str] = frozenset()

    def problem(self, uri: str | None, *, namespace: str) -> str | None:
        """Why the operator will not read ``uri`` for an object of ``namespace`` (None: it
        may; URIs that are not s3:// are someone else's business)."""
        if not uri or not uri.startswith("s3://"):
            return None
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if bucket != self.own_bucket and bucket not in self.other_buckets:
            allowed = ", ".join(sorted({self.own_bucket, *self.other_buckets}))
            return (
                f"bucket {bucket!r} is not one PACE reads for users (allowed: {allowed}; "
                "the operator's PACE_S3_READ_BUCKETS adds buckets)"
            )
        if bucket == self.own_bucket:
            top, _, rest = key.partition("/")
            owner = rest.partition("/")[0]
            if top in PER_NAMESPACE and owner != namespace:
                return (
                    f"{uri!r} is in PACE's {top}/ data of "
                    f"{'namespace ' + repr(owner) if owner else 'every namespace'}; an object "
                    f"of namespace {namespace!r} may read only {top}/{namespace}/"
                )
        return None

    def write_problem(self, uri: str, *, namespace: str) -> str | None:
        """Why the operator's pipeline steps will not write under ``uri`` for an object of
        ``namespace``: what it may not read, and anywhere in the data PACE keeps itself (its
        registry, logs and audit trail are written by PACE alone)."""
        problem = self.problem(uri, namespace=namespace)
        if problem is not None:
            return problem
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        top = key.partition("/")[0]
        if bucket == self.own_bucket and top in (*PER_NAMESPACE, *PACE_OWN):
            return f"{uri!r} is in PACE's own {top}/ data; choose another prefix"
        return None


def mlmodel_problems(spec: MLModelSpec, namespace: str, policy: ReadPolicy) -> list[Problem]:
    found = list(_found(policy, namespace, _mlmodel_uris(spec)))
    if spec.batch is not None:
        problem = policy.write_problem(spec.batch.output, namespace=namespace)
        if problem is not None:
            found.append(("spec.batch.output", problem))
    return found


def drift_monitor_problems(
    spec: DriftMonitorSpec, namespace: str, policy: ReadPolicy
) -> list[Problem]:
    uris = [("spec.reference.uri", spec.reference.uri), ("spec.source.uri", spec.source.uri)]
    return list(_found(policy, namespace, uris))


def retrain_policy_problems(
    spec: RetrainPolicySpec, namespace: str, policy: ReadPolicy
) -> list[Problem]:
    new_data = spec.triggers.new_data
    uris = [("spec.triggers.newData.prefix", new_data.prefix if new_data else None)]
    return list(_found(policy, namespace, uris))


def _mlmodel_uris(spec: MLModelSpec) -> list[tuple[str, str | None]]:
    recent = spec.dataset.recent
    return [
        ("spec.dataset.uri", spec.dataset.uri),
        ("spec.dataset.recent.source", recent.source if recent else None),
        ("spec.model.uri", spec.model.uri if spec.model else None),
        ("spec.batch.input", spec.batch.input if spec.batch else None),
    ]


def _found(
    policy: ReadPolicy, namespace: str, uris: list[tuple[str, str | None]]
) -> Iterator[Problem]:
    for path, uri in uris:
        problem = policy.problem(uri, namespace=namespace)
        if problem is not None:
            yield path, problem
