"""Strategies of the RBAC kinds: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Why their own validation: RBAC names are path segments, not DNS names
(`system:kube-scheduler`, `system:node:n1` are the names every Kubernetes
cluster bootstraps), a binding's roleRef is immutable (re-pointing a binding
would silently change what its subjects may do; Kubernetes makes you delete
and re-create it), and a rule without verbs, or a resource rule mixed with
nonResourceURLs in a namespaced Role, can never mean what its author wanted.
"""

from __future__ import annotations

from typing import Any

from apiserver.strategy.base import Strategy
from kubelite.api import defaults
from kubelite.api.errors import ApiError, Invalid, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.rbac import RBAC_GROUP, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding
from kubelite.api.registry import KindInfo
from kubelite.api.selectors import label_matcher
from kubelite.api.validation import validate_object_meta

Causes = list[StatusCause]
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
MAX_PATH_SEGMENT_NAME = 253


def path_segment_error(name: str) -> str | None:
    """Kubernetes' IsValidPathSegmentName: anything but ".", ".." and names with "/" or "%".

    Capped at 253 characters (a DNS subdomain's limit) where Kubernetes has no cap: the name
    is also the storage key, and a megabyte key would pass the object-size check only to be
    refused by the store with a server error."""
    if len(name) > MAX_PATH_SEGMENT_NAME:
        return f"must be no more than {MAX_PATH_SEGMENT_NAME} characters"
    if name in (".", ".."):
        return f'may not be "{name}"'
    for bad in ("/", "%"):
        if bad in name:
            return f"may not contain '{bad}'"
    return None


def _rules(rules: list[PolicyRule], path: str, namespaced: bool, out: Causes) -> None:
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        if not rule.verbs:
            out.append(StatusCause.required(f"{where}.verbs", "verbs must contain at least one value"))
        if rule.non_resource_urls:
            if namespaced:
                out.append(StatusCause.invalid(f"{where}.nonResourceURLs", rule.non_resource_urls,
                                               "namespaced rules cannot apply to non-resource URLs"))
            if rule.api_groups or rule.resources or rule.resource_names:
                out.append(StatusCause.invalid(f"{where}.nonResourceURLs", rule.non_resource_urls,
                                               "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.api_groups:
            out.append(StatusCause.required(f"{where}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.resources:
            out.append(StatusCause.required(f"{where}.resources", "resource rules must supply at least one resource"))


def validate_rbac(obj: Resource) -> Causes:
    """Every problem with an RBAC object (empty = valid); field paths like Kubernetes'."""
    out: Causes = []
    validate_object_meta(obj.metadata, path_segment_error, out)
    if isinstance(obj, Role):
        _rules(obj.rules, "rules", True, out)
    elif isinstance(obj, ClusterRole):
        _rules(obj.rules, "rules", False, out)
        if obj.aggregation_rule is not None:
            if not obj.aggregation_rule.cluster_role_selectors:
                out.append(StatusCause.required("aggregationRule.clusterRoleSelectors",
                                                "at least one clusterRoleSelector required if aggregationRule is set"))
            for i, selector in enumerate(obj.aggregation_rule.cluster_role_selectors):
                try:
                    label_matcher(selector)
                except ApiError as exc:
                    out.append(StatusCause.invalid(f"aggregationRule.clusterRoleSelectors[{i}]",
                                                   selector.to_dict(), str(exc)))
    elif isinstance(obj, RoleBinding | ClusterRoleBinding):
        ref = obj.role_ref
        allowed = ("Role", "ClusterRole") if isinstance(obj, RoleBinding) else ("ClusterRole",)
        if ref.api_group != RBAC_GROUP:
            out.append(StatusCause.not_supported("roleRef.apiGroup", ref.api_group, [RBAC_GROUP]))
        if ref.kind not in allowed:
            out.append(StatusCause.not_supported("roleRef.kind", ref.kind, list(allowed)))
        if not ref.name:
            out.append(StatusCause.required("roleRef.name", "roleRef.name is required"))
        elif (err := path_segment_error(ref.name)) is not None:
            out.append(StatusCause.invalid("roleRef.name", ref.name, err))
        for i, subject in enumerate(obj.subjects):
            where = f"subjects[{i}]"
            if subject.kind not in SUBJECT_KINDS:
                out.append(StatusCause.not_supported(f"{where}.kind", subject.kind, list(SUBJECT_KINDS)))
            if not subject.name:
                out.append(StatusCause.required(f"{where}.name", "name is required"))
            if subject.kind == "ServiceAccount" and not subject.namespace and isinstance(obj, ClusterRoleBinding):
                out.append(StatusCause.required(f"{where}.namespace", "a ServiceAccount subject needs a namespace"))
    return out


class RbacStrategy(Strategy[Any]):
    """One of the four RBAC kinds: no status, path-segment names, immutable roleRef."""

    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, info.model)

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        defaults.apply_defaults(obj)
        causes = validate_rbac(obj)
        if old is not None:
            if old.metadata.name != obj.metadata.name:
                causes.append(StatusCause.invalid("metadata.name", obj.metadata.name, "field is immutable"))
            if isinstance(old, RoleBinding | ClusterRoleBinding) and isinstance(obj, RoleBinding | ClusterRoleBinding):
                if old.role_ref != obj.role_ref:
                    causes.append(StatusCause.invalid("roleRef", obj.role_ref.to_dict(), "cannot change roleRef"))
        if causes:
            raise Invalid.for_object(self.info.kind, obj.metadata.name, causes)
