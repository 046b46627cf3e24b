"""The RBAC authorizer: Kubernetes' rule semantics over Roles, ClusterRoles and their bindings.

Why pure: the evaluator reads policy through `PolicySource` (the apiserver
feeds it from its watch caches, tests from a list of objects), so its
semantics -- exactly Kubernetes' `RuleAllows`, `appliesTo` and binding scopes
-- are tested table-driven without a server.

Semantics, as in Kubernetes:
* a rule allows a resource request when its verbs, apiGroups and resources
  match ("*" matches everything; a subresource request "pods/status" matches
  only "pods/status", "*/status" or "*", never plain "pods") and, if the rule
  lists resourceNames, the request names one of them (so such a rule never
  allows create, list or an unnamed watch);
* a non-resource request (path) matches nonResourceURLs exactly, or by prefix
  when the rule's URL ends in "*";
* ClusterRoleBindings grant cluster-wide; a RoleBinding grants only in its own
  namespace, also when it points at a ClusterRole;
* subjects are a User (by name), a Group (by membership) or a ServiceAccount
  (user `system:serviceaccount:<ns>:<name>`; a RoleBinding's subject without a
  namespace means the binding's namespace);
* a ClusterRole with an aggregationRule has the union of the rules of every
  ClusterRole its selectors match (evaluated here, recursively, instead of by
  a controller writing them into the object: the outcome is the same and it is
  never stale).
There is no deny rule: RBAC only allows, anything else is "no opinion".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from apiserver.authn.user import UserInfo, service_account_username
from apiserver.authz.attributes import ALLOW, NO_OPINION, Attributes, Verdict
from kubelite.api.errors import ApiError
from kubelite.api.meta import Resource
from kubelite.api.rbac import ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject
from kubelite.api.selectors import label_matcher

ALL = "*"


class PolicySource(Protocol):
    """Read access to the stored RBAC objects."""

    def role(self, namespace: str, name: str) -> Role | None: ...
    def cluster_role(self, name: str) -> ClusterRole | None: ...
    def cluster_roles(self) -> Iterable[ClusterRole]: ...
    def role_bindings(self, namespace: str) -> Iterable[RoleBinding]: ...
    def cluster_role_bindings(self) -> Iterable[ClusterRoleBinding]: ...


class StaticPolicy:
    """A `PolicySource` over a fixed list of objects (tests, bootstrap previews)."""

    def __init__(self, objects: Iterable[Resource]) -> None:
        self.objects = list(objects)

    def _of(self, cls: type[Resource], namespace: str | None = None) -> Iterator[Resource]:
        for obj in self.objects:
            if isinstance(obj, cls) and (namespace is None or (obj.metadata.namespace or "") == namespace):
                yield obj

    def role(self, namespace: str, name: str) -> Role | None:
        return next((r for r in self._of(Role, namespace) if isinstance(r, Role) and r.metadata.name == name), None)

    def cluster_role(self, name: str) -> ClusterRole | None:
        return next((r for r in self.cluster_roles() if r.metadata.name == name), None)

    def cluster_roles(self) -> list[ClusterRole]:
        return [r for r in self._of(ClusterRole) if isinstance(r, ClusterRole)]

    def role_bindings(self, namespace: str) -> list[RoleBinding]:
        return [b for b in self._of(RoleBinding, namespace) if isinstance(b, RoleBinding)]

    def cluster_role_bindings(self) -> list[ClusterRoleBinding]:
        return [b for b in self._of(ClusterRoleBinding) if isinstance(b, ClusterRoleBinding)]


# ---- rule matching ---------------------------------------------------------------------------


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    """`combined` is "pods" or "pods/status"; "*/status" matches any resource's status."""
    for resource in rule.resources:
        if resource == ALL or resource == combined:
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url == ALL or url == path:
            return True
        if url.endswith(ALL) and path.startswith(url.rstrip(ALL)):
            return True
    return False


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    """Kubernetes' RuleAllows."""
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (api_group_matches(rule, attrs.api_group) and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name))


# ---- subjects -----------------------------------------------------------------------------


def applies_to(user: UserInfo, subject: Subject, binding_namespace: str) -> bool:
    """Whether a binding's `subject` is `user` (binding_namespace is "" for a ClusterRoleBinding)."""
    if subject.kind == "User":
        return user.name == subject.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        namespace = subject.namespace or binding_namespace
        return bool(namespace) and user.name == service_account_username(namespace, subject.name)
    return False


def _binds(user: UserInfo, subjects: list[Subject], binding_namespace: str) -> bool:
    return any(applies_to(user, s, binding_namespace) for s in subjects)


# ---- the authorizer ------------------------------------------------------------------------


class RbacAuthorizer:
    """Allows a request when some rule of some role bound to the user allows it."""

    def __init__(self, policy: PolicySource) -> None:
        self.policy = policy

    def cluster_role_rules(self, name: str, _seen: frozenset[str] = frozenset()) -> list[PolicyRule]:
        """The rules of ClusterRole `name`, aggregation applied (cycles are cut, not errors)."""
        role = self.policy.cluster_role(name)
        if role is None or name in _seen:
            return []
        if role.aggregation_rule is None:
            return list(role.rules)
        seen = _seen | {name}
        rules: list[PolicyRule] = []
        try:
            matchers = [label_matcher(s) for s in role.aggregation_rule.cluster_role_selectors]
        except ApiError:
            return []
        for other in self.policy.cluster_roles():
            other_name = other.metadata.name or ""
            if other_name in seen or not any(m.matches(other.metadata.labels) for m in matchers):
                continue
            rules.extend(self.cluster_role_rules(other_name, seen))
        return rules

    def _role_ref_rules(self, kind: str, name: str, namespace: str) -> list[PolicyRule]:
        if kind == "ClusterRole":
            return self.cluster_role_rules(name)
        if kind == "Role" and namespace:
            role = self.policy.role(namespace, name)
            return list(role.rules) if role is not None else []
        return []

    def rules_for(self, user: UserInfo, namespace: str) -> Iterator[PolicyRule]:
        """Every rule that applies to `user` in `namespace` ("" = cluster-wide grants only)."""
        for crb in self.policy.cluster_role_bindings():
            if _binds(user, crb.subjects, ""):
                yield from self._role_ref_rules(crb.role_ref.kind, crb.role_ref.name, "")
        if namespace:
            for rb in self.policy.role_bindings(namespace):
                if _binds(user, rb.subjects, namespace):
                    yield from self._role_ref_rules(rb.role_ref.kind, rb.role_ref.name, namespace)

    def authorize(self, attrs: Attributes) -> Verdict:
        namespace = attrs.namespace if attrs.resource_request else ""
        if any(rule_allows(attrs, rule) for rule in self.rules_for(attrs.user, namespace)):
            return ALLOW
        return NO_OPINION
