"""Base model and small shared types for PACE's resources (pure, no I/O).

Every spec and status model derives from `CamelModel`, so Python uses snake_case while the
Kubernetes objects use camelCase. The CRD schemas in ``crds/`` are generated from these
models by `pace.api.crd_schema`, which makes the models the single source of truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
"""Go-style durations without fractions: 30s, 5m, 1h30m, 500ms."""

K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class CamelModel(BaseModel):
    """Frozen pydantic model with camelCase aliases that ignores unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
    )

    def to_patch(self) -> dict[str, Any]:
        """Like `to_k8s` but with None kept, so a merge patch removes stale fields."""
        return self.model_dump(by_alias=True, mode="json")

    def to_k8s(self) -> dict[str, Any]:
        """The camelCase dict the API server stores (None fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def nested(factory: type[CamelModel], description: str) -> Any:
    """A sub-object that defaults to ``{}``, so the API server fills its inner defaults."""
    return Field(
        default_factory=factory, description=description, json_schema_extra={"default": {}}
    )


class ObjectRef(CamelModel):
    """Reference to another PACE object in the same namespace."""

    name: str = Field(
        description="Name of the referenced object in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
    )


class SecretKeyRef(CamelModel):
    """A key inside a Secret in the same namespace; credentials only travel this way."""

    name: str = Field(description="Name of the Secret.", min_length=1, max_length=253)
    key: str = Field(description="Key inside the Secret.", min_length=1)


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
    message_expression: str | None = None,
) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry. ``message_expression`` (CEL, evaluated only
    when the rule fails) can name the offending value; the API server falls back to
    ``message`` when it cannot be evaluated."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if message_expression:
        entry["messageExpression"] = message_expression
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules for a model or field."""
    return {"x-kubernetes-validations": list(rules)}


class KubeObject(CamelModel):
    """Identity of one of our objects plus its parsed spec and status (set by subclasses)."""

    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    created: datetime | None = None

    @classmethod
    def from_body(cls, body: Any) -> Self:
        """Parse a kopf body, or any mapping shaped like a Kubernetes object.

        Raises:
            pydantic.ValidationError: naming the offending field.
        """
        meta = body["metadata"]
        return cls.model_validate(
            {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "generation": meta.get("generation", 0),
                "created": meta.get("creationTimestamp"),
                "spec": dict(body.get("spec") or {}),
                "status": dict(body.get("status") or {}),
            }
        )
