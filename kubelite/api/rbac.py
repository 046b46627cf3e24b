"""rbac.authorization.k8s.io/v1 kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding)
and the review kinds of authorization.k8s.io/v1 and authentication.k8s.io/v1.

Why Kubernetes' shapes exactly: RBAC manifests written for Kubernetes (`kind:
ClusterRole`, `aggregationRule`, `roleRef`, `subjects`) must apply unchanged,
and `kctl auth can-i` / `whoami` speak the same SelfSubjectAccessReview /
SelfSubjectReview objects kubectl sends. The review kinds are not stored: the
apiserver answers a create of one and forgets it, so they are not in the kind
registry.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import KubeModel
from kubelite.api.meta import LabelSelector, Resource

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_VERSION = f"{RBAC_GROUP}/v1"


class PolicyRule(KubeModel):
    """What a role allows: verbs on (apiGroups x resources [x resourceNames]) or on nonResourceURLs."""

    verbs: list[str] = Field(default_factory=list)
    api_groups: list[str] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)
    resource_names: list[str] = Field(default_factory=list)
    non_resource_urls: list[str] = Field(default_factory=list, alias="nonResourceURLs")


class AggregationRule(KubeModel):
    """A ClusterRole whose rules are the union of the ClusterRoles these selectors match."""

    cluster_role_selectors: list[LabelSelector] = Field(default_factory=list)


class Role(Resource):
    api_version: str = RBAC_VERSION
    kind: str = "Role"
    rules: list[PolicyRule] = Field(default_factory=list)


class ClusterRole(Resource):
    api_version: str = RBAC_VERSION
    kind: str = "ClusterRole"
    rules: list[PolicyRule] = Field(default_factory=list)
    aggregation_rule: AggregationRule | None = None


class RoleRef(KubeModel):
    api_group: str = RBAC_GROUP
    kind: str = ""  # Role or ClusterRole
    name: str = ""


class Subject(KubeModel):
    """Who a binding grants to: kind User, Group or ServiceAccount (with namespace)."""

    kind: str
    name: str
    api_group: str | None = None  # rbac.authorization.k8s.io for User/Group, "" for ServiceAccount
    namespace: str | None = None


class RoleBinding(Resource):
    api_version: str = RBAC_VERSION
    kind: str = "RoleBinding"
    subjects: list[Subject] = Field(default_factory=list)
    role_ref: RoleRef = Field(default_factory=RoleRef)


class ClusterRoleBinding(Resource):
    api_version: str = RBAC_VERSION
    kind: str = "ClusterRoleBinding"
    subjects: list[Subject] = Field(default_factory=list)
    role_ref: RoleRef = Field(default_factory=RoleRef)


# --- authorization.k8s.io/v1 SelfSubjectAccessReview ------------------------------------


class ResourceAttributes(KubeModel):
    namespace: str = ""
    verb: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


class NonResourceAttributes(KubeModel):
    path: str = ""
    verb: str = ""


class SelfSubjectAccessReviewSpec(KubeModel):
    resource_attributes: ResourceAttributes | None = None
    non_resource_attributes: NonResourceAttributes | None = None


class SubjectAccessReviewStatus(KubeModel):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluation_error: str | None = None


class SelfSubjectAccessReview(Resource):
    api_version: str = "authorization.k8s.io/v1"
    kind: str = "SelfSubjectAccessReview"
    spec: SelfSubjectAccessReviewSpec = Field(default_factory=SelfSubjectAccessReviewSpec)
    status: SubjectAccessReviewStatus = Field(default_factory=SubjectAccessReviewStatus)


# --- authentication.k8s.io/v1 SelfSubjectReview ------------------------------------------


class UserInfoStatus(KubeModel):
    username: str | None = None
    uid: str | None = None
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class SelfSubjectReviewStatus(KubeModel):
    user_info: UserInfoStatus = Field(default_factory=UserInfoStatus)


class SelfSubjectReview(Resource):
    api_version: str = "authentication.k8s.io/v1"
    kind: str = "SelfSubjectReview"
    status: SelfSubjectReviewStatus = Field(default_factory=SelfSubjectReviewStatus)


# --- authorization.k8s.io/v1 SelfSubjectRulesReview (`kubectl auth can-i --list`) -------------


class SelfSubjectRulesReviewSpec(KubeModel):
    namespace: str = ""


class ResourceRule(KubeModel):
    verbs: list[str] = Field(default_factory=list)
    api_groups: list[str] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)
    resource_names: list[str] = Field(default_factory=list)


class NonResourceRule(KubeModel):
    verbs: list[str] = Field(default_factory=list)
    non_resource_urls: list[str] = Field(default_factory=list, alias="nonResourceURLs")


class SubjectRulesReviewStatus(KubeModel):
    resource_rules: list[ResourceRule] = Field(default_factory=list)
    non_resource_rules: list[NonResourceRule] = Field(default_factory=list)
    incomplete: bool = False
    evaluation_error: str | None = None


class SelfSubjectRulesReview(Resource):
    api_version: str = "authorization.k8s.io/v1"
    kind: str = "SelfSubjectRulesReview"
    spec: SelfSubjectRulesReviewSpec = Field(default_factory=SelfSubjectRulesReviewSpec)
    status: SubjectRulesReviewStatus = Field(default_factory=SubjectRulesReviewStatus)


SELF_SUBJECT_ACCESS_REVIEWS = "selfsubjectaccessreviews"
SELF_SUBJECT_RULES_REVIEWS = "selfsubjectrulesreviews"
SELF_SUBJECT_REVIEWS = "selfsubjectreviews"
REVIEW_RESOURCES = frozenset({SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_RULES_REVIEWS, SELF_SUBJECT_REVIEWS})
"""Create-only, unstored resources the apiserver answers itself."""
