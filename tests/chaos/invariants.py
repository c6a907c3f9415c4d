"""What must hold after any fault, read from what the servers stored (pure: the caller
fetches the model, its SeldonDeployment, the registry's and the audit log's keys, the audit
records and the local backend's run folders; each function returns the violations found, as
sentences naming the model).

- no duplicate pipeline run: one run folder, and one ``TrainingStarted``, per version;
- no lost or duplicated version: the registry holds exactly the versions status lists,
  numbered v1..vN without a gap, and each once;
- every audit event once: no event that happens once per version is recorded twice;
- no promotion without passing checks: a version promoted by its canary passed its gates
  first and was never rolled back; a rolled-back version never served;
- the SeldonDeployment matches status: ``main`` serves status.servingVersion; a canary or
  shadow predictor exists exactly while status has a candidate in a canary, for that version;
- no orphaned predictor: no predictor serves a version that is neither serving nor candidate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

ONCE_PER_VERSION = frozenset(
    {
        "TrainingStarted",
        "GatesPassed",
        "GateFailed",
        "FirstVersion",
        "CanaryStarted",
        "Promoted",
        "RolledBack",
        "ManualPromotion",
        "ManualRollback",
        "AwaitingPromotion",
    }
)
_VERSION_FOLDER = re.compile(r"/versions/(v[0-9]+)/")


def registry_versions(keys: Iterable[str]) -> set[str]:
    """Versions with an artifact in the registry (``models/<ns>/<model>/<uid>/versions/vN/``)."""
    return {m.group(1) for k in keys if (m := _VERSION_FOLDER.search(k))}


def versions(model: dict[str, Any], registry: set[str]) -> list[str]:
    name = model["metadata"]["name"]
    listed = [v["version"] for v in (model.get("status") or {}).get("versions") or []]
    problems = []
    duplicated = sorted(v for v, n in Counter(listed).items() if n > 1)
    if duplicated:
        problems.append(f"{name}: version(s) {duplicated} listed twice in status")
    if set(listed) != registry:
        problems.append(
            f"{name}: status lists {sorted(listed)} but the registry holds {sorted(registry)}"
        )
    numbers = sorted(int(v[1:]) for v in set(listed))
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"{name}: versions {sorted(set(listed))} are not v1..v{len(numbers)}")
    return problems


def runs(name: str, run_folders: Iterable[str], records: list[dict[str, Any]]) -> list[str]:
    """One pipeline run (folder ``<model>-<version>-...``) and one TrainingStarted per
    version."""
    per_version = Counter(
        f.removeprefix(f"{name}-").split("-", 1)[0] for f in run_folders if f.startswith(f"{name}-")
    )
    problems = [
        f"{name}: {n} pipeline runs for {version}"
        for version, n in sorted(per_version.items())
        if n > 1
    ]
    started = Counter(r.get("version") for r in records if r.get("type") == "TrainingStarted")
    problems += [
        f"{name}: {n} TrainingStarted records for {version}"
        for version, n in sorted(started.items(), key=str)
        if n > 1
    ]
    return problems


def audit_once(name: str, records: list[dict[str, Any]]) -> list[str]:
    counted = Counter(
        (r.get("type"), r.get("version")) for r in records if r.get("type") in ONCE_PER_VERSION
    )
    return [
        f"{name}: {kind} of {version} recorded {n} times"
        for (kind, version), n in sorted(counted.items(), key=str)
        if n > 1
    ]


def promotions(name: str, records: list[dict[str, Any]]) -> list[str]:
    """Records in order: a Promoted version had GatesPassed before it and no RolledBack."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for record in records:
        kind, version = record.get("type"), record.get("version")
        if kind == "Promoted":
            if ("GatesPassed", version) not in seen:
                problems.append(f"{name}: {version} promoted without passing its gates")
            if ("RolledBack", version) in seen:
                problems.append(f"{name}: {version} promoted after it was rolled back")
        seen.add((str(kind), str(version)))
    return problems


def deployment(model: dict[str, Any], sdep: dict[str, Any] | None) -> list[str]:
    """The SeldonDeployment's predictors against the model's status."""
    name = model["metadata"]["name"]
    status = model.get("status") or {}
    serving, candidate = status.get("servingVersion"), status.get("candidateVersion")
    canary = status.get("canary")
    if serving is None:
        return [] if sdep is None else [f"{name}: a SeldonDeployment but nothing serving"]
    if sdep is None:
        return [f"{name}: serves {serving} in status but has no SeldonDeployment"]
    predictors = {
        p["name"]: p["labels"].get("mlops.pace.dev/version")
        for p in sdep["spec"].get("predictors", [])
    }
    problems = []
    if predictors.get("main") != serving:
        problems.append(f"{name}: main predictor serves {predictors.get('main')}, not {serving}")
    others = {p: v for p, v in predictors.items() if p != "main"}
    in_canary = (
        candidate is not None
        and canary is not None
        and ((canary.get("weight") or 0) > 0 or canary.get("shadow"))
    )
    if in_canary and set(others.values()) != {candidate}:
        problems.append(f"{name}: canary of {candidate} in status, predictors {others}")
    if not in_canary and others:
        problems.append(f"{name}: predictors {others} beside main, but no canary in status")
    orphans = {p: v for p, v in predictors.items() if v not in (serving, candidate)}
    if orphans:
        problems.append(f"{name}: orphaned predictor(s) {orphans}")
    return problems


def stages(model: dict[str, Any], expected: dict[str, str]) -> list[str]:
    """The scenario's expected outcome: each version's stage."""
    name = model["metadata"]["name"]
    found = {v["version"]: v["stage"] for v in (model.get("status") or {}).get("versions") or []}
    return [] if found == expected else [f"{name}: stages {found}, expected {expected}"]
