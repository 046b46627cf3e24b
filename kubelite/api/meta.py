"""Object metadata and the shared building blocks of every kind (Kubernetes meta/v1).

`Resource` is the base of every top-level kind: apiVersion, kind, metadata.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from kubelite.api.base import Int64, KubeModel


class OwnerReference(KubeModel):
    """Links a dependent (pod) to its owner (ReplicaSet) for adoption and garbage collection."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(KubeModel):
    """Which fields one manager owns (`fieldsV1`, a FieldsV1 tree), recorded by the apiserver on
    every write (`apiserver/apply/`) and used by server-side apply to find conflicts."""

    manager: str | None = None
    operation: str | None = None
    api_version: str | None = None
    time: str | None = None
    fields_type: str | None = None
    fields_v1: dict[str, Any] | None = None
    subresource: str | None = None


class ObjectMeta(KubeModel):
    shared_validator = True  # in every kind / every pod template: built once (see KubeModel)

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: Int64 | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[ManagedFieldsEntry] = Field(default_factory=list)
    self_link: str | None = None

    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with controller=true, if any (who manages this object)."""
        return next((r for r in self.owner_references if r.controller), None)


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: list[str] = Field(default_factory=list)


class LabelSelector(KubeModel):
    """matchLabels AND matchExpressions; see api.selectors.label_matcher for evaluation."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class ObjectReference(KubeModel):
    """Points at another object (Event.involvedObject, Endpoints targetRef)."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class LocalObjectReference(KubeModel):
    name: str | None = None


class Condition(KubeModel):
    """meta/v1 Condition (used by newer kinds); typed per-kind conditions live with their kind."""

    type: str
    status: str
    observed_generation: Int64 | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class Resource(KubeModel):
    """Base of every top-level kind. Subclasses set their apiVersion/kind defaults."""

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @field_validator("kind")
    @classmethod
    def _kind_matches_model(cls, value: str) -> str:
        """Deployment.from_dict() of a Pod's JSON is a bug upstream: say so at `kind`."""
        expected = cls.model_fields["kind"].default
        if expected and value != expected:
            raise ValueError(f'expected kind "{expected}", got "{value}"')
        return value


def object_key(obj: Resource | dict[str, Any]) -> str:
    """Cache/work-queue key: "namespace/name", or "name" for cluster-scoped objects."""
    if isinstance(obj, Resource):
        ns, name = obj.metadata.namespace, obj.metadata.name
    else:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
    return f"{ns}/{name or ''}" if ns else (name or "")
