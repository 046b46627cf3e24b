"""The RBAC evaluator against Kubernetes' documented semantics, one table row per rule.

Each case states a policy (roles + bindings), a user and a request, and
whether Kubernetes would allow it; the rows cite the rule they exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from apiserver.authn.user import UserInfo
from apiserver.authz import Attributes, build_authorizer
from apiserver.authz.bootstrap import default_policy
from apiserver.authz.node import StaticGraph
from apiserver.authz.rbac import RbacAuthorizer, StaticPolicy
from apiserver.strategy.rbac import validate_rbac
from kubelite.api.meta import LabelSelector, ObjectMeta, Resource
from kubelite.api.rbac import (
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)

ALICE = UserInfo("alice", ("system:authenticated",))
BOB = UserInfo("bob", ("devs", "system:authenticated"))
SA = UserInfo("system:serviceaccount:ci:builder",
              ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"))


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
         names: list[str] | None = None) -> PolicyRule:
    return PolicyRule(verbs=verbs, api_groups=groups if groups is not None else [""], resources=resources,
                      resource_names=names or [])


def urls(verbs: list[str], paths: list[str]) -> PolicyRule:
    return PolicyRule(verbs=verbs, non_resource_urls=paths)


def cluster_role(name: str, *rules: PolicyRule, labels: dict[str, str] | None = None,
                 aggregate: dict[str, str] | None = None) -> ClusterRole:
    aggregation = AggregationRule(cluster_role_selectors=[LabelSelector(match_labels=aggregate)]) if aggregate else None
    return ClusterRole(metadata=ObjectMeta(name=name, labels=labels or {}), rules=list(rules),
                       aggregation_rule=aggregation)


def role(namespace: str, name: str, *rules: PolicyRule) -> Role:
    return Role(metadata=ObjectMeta(name=name, namespace=namespace), rules=list(rules))


def subject(kind: str, name: str, namespace: str | None = None) -> Subject:
    return Subject(kind=kind, name=name, namespace=namespace,
                   api_group=None if kind == "ServiceAccount" else "rbac.authorization.k8s.io")


def crb(role_name: str, *subjects: Subject) -> ClusterRoleBinding:
    return ClusterRoleBinding(metadata=ObjectMeta(name=f"crb-{role_name}"), subjects=list(subjects),
                              role_ref=RoleRef(kind="ClusterRole", name=role_name))


def rb(namespace: str, kind: str, role_name: str, *subjects: Subject) -> RoleBinding:
    return RoleBinding(metadata=ObjectMeta(name=f"rb-{role_name}", namespace=namespace), subjects=list(subjects),
                       role_ref=RoleRef(kind=kind, name=role_name))


def req(verb: str, resource: str = "", namespace: str = "", name: str = "", group: str = "",
        sub: str = "", path: str = "", user: UserInfo = ALICE) -> Attributes:
    return Attributes(user, verb, resource, api_group=group, subresource=sub, namespace=namespace, name=name,
                      path=path)


@dataclass
class Case:
    id: str
    policy: list[Resource]
    request: Attributes
    allowed: bool
    note: str = field(default="")


READER = cluster_role("pod-reader", rule(["get", "list", "watch"], ["pods"]))
ALICE_READS = crb("pod-reader", subject("User", "alice"))

CASES = [
    Case("verb-match", [READER, ALICE_READS], req("get", "pods", "default", "web"), True),
    Case("verb-mismatch", [READER, ALICE_READS], req("delete", "pods", "default", "web"), False),
    Case("resource-mismatch", [READER, ALICE_READS], req("get", "secrets", "default", "s"), False),
    Case("group-mismatch", [READER, ALICE_READS], req("get", "pods", "default", "web", group="apps"), False),
    Case("no-binding-no-access", [READER], req("get", "pods", "default", "web"), False),
    Case("other-user-binding", [READER, crb("pod-reader", subject("User", "bob"))],
         req("get", "pods", "default"), False),
    Case("verb-wildcard", [cluster_role("r", rule(["*"], ["pods"])), crb("r", subject("User", "alice"))],
         req("deletecollection", "pods", "default"), True),
    Case("resource-wildcard", [cluster_role("r", rule(["get"], ["*"])), crb("r", subject("User", "alice"))],
         req("get", "configmaps", "kube-system", "c"), True),
    Case("resource-wildcard-covers-subresources",
         [cluster_role("r", rule(["get"], ["*"])), crb("r", subject("User", "alice"))],
         req("get", "pods", "default", "web", sub="log"), True),
    Case("group-wildcard", [cluster_role("r", rule(["list"], ["deployments"], ["*"])), crb("r", subject("User", "alice"))],
         req("list", "deployments", "default", group="apps"), True),
    Case("subresource-needs-its-own-rule", [READER, ALICE_READS], req("get", "pods", "default", "web", sub="log"),
         False, "pods does not cover pods/log"),
    Case("subresource-exact", [cluster_role("r", rule(["get"], ["pods/log"])), crb("r", subject("User", "alice"))],
         req("get", "pods", "default", "web", sub="log"), True),
    Case("subresource-rule-not-parent", [cluster_role("r", rule(["get"], ["pods/log"])),
                                         crb("r", subject("User", "alice"))],
         req("get", "pods", "default", "web"), False),
    Case("star-slash-subresource", [cluster_role("r", rule(["update"], ["*/status"], ["*"])),
                                    crb("r", subject("User", "alice"))],
         req("update", "deployments", "default", "web", group="apps", sub="status"), True),
    Case("star-slash-other-subresource", [cluster_role("r", rule(["update"], ["*/status"], ["*"])),
                                          crb("r", subject("User", "alice"))],
         req("update", "deployments", "default", "web", group="apps", sub="scale"), False),
    Case("resource-names-match", [cluster_role("r", rule(["get", "update"], ["configmaps"], names=["app"])),
                                  crb("r", subject("User", "alice"))],
         req("update", "configmaps", "default", "app"), True),
    Case("resource-names-other", [cluster_role("r", rule(["get"], ["configmaps"], names=["app"])),
                                  crb("r", subject("User", "alice"))],
         req("get", "configmaps", "default", "other"), False),
    Case("resource-names-never-list", [cluster_role("r", rule(["list"], ["configmaps"], names=["app"])),
                                       crb("r", subject("User", "alice"))],
         req("list", "configmaps", "default"), False, "a list has no name"),
    Case("resource-names-never-create", [cluster_role("r", rule(["create"], ["configmaps"], names=["app"])),
                                         crb("r", subject("User", "alice"))],
         req("create", "configmaps", "default"), False),
    Case("non-resource-exact", [cluster_role("r", urls(["get"], ["/healthz"])), crb("r", subject("User", "alice"))],
         req("get", path="/healthz"), True),
    Case("non-resource-exact-only", [cluster_role("r", urls(["get"], ["/healthz"])),
                                     crb("r", subject("User", "alice"))],
         req("get", path="/healthz/etcd"), False),
    Case("non-resource-star-suffix", [cluster_role("r", urls(["get"], ["/logs/*"])),
                                      crb("r", subject("User", "alice"))],
         req("get", path="/logs/kubelet.log"), True),
    Case("non-resource-verb", [cluster_role("r", urls(["get"], ["*"])), crb("r", subject("User", "alice"))],
         req("post", path="/anything"), False),
    Case("resource-rule-does-not-match-path", [cluster_role("r", rule(["*"], ["*"], ["*"])),
                                               crb("r", subject("User", "alice"))],
         req("get", path="/metrics"), False),
    Case("rolebinding-to-clusterrole-in-its-namespace", [READER, rb("dev", "ClusterRole", "pod-reader",
                                                                    subject("User", "alice"))],
         req("list", "pods", "dev"), True),
    Case("rolebinding-to-clusterrole-other-namespace", [READER, rb("dev", "ClusterRole", "pod-reader",
                                                                  subject("User", "alice"))],
         req("list", "pods", "prod"), False),
    Case("rolebinding-not-cluster-wide", [READER, rb("dev", "ClusterRole", "pod-reader", subject("User", "alice"))],
         req("list", "pods", ""), False, "listing all namespaces needs a cluster-wide grant"),
    Case("clusterrolebinding-all-namespaces", [READER, ALICE_READS], req("list", "pods", ""), True),
    Case("role-in-namespace", [role("dev", "r", rule(["create"], ["secrets"])),
                               rb("dev", "Role", "r", subject("User", "alice"))],
         req("create", "secrets", "dev"), True),
    Case("role-from-other-namespace", [role("prod", "r", rule(["create"], ["secrets"])),
                                       rb("dev", "Role", "r", subject("User", "alice"))],
         req("create", "secrets", "dev"), False, "a RoleBinding refers to a Role of its own namespace"),
    Case("group-subject", [READER, crb("pod-reader", subject("Group", "devs"))],
         req("get", "pods", "default", user=BOB), True),
    Case("group-subject-non-member", [READER, crb("pod-reader", subject("Group", "devs"))],
         req("get", "pods", "default"), False),
    Case("all-authenticated", [READER, crb("pod-reader", subject("Group", "system:authenticated"))],
         req("get", "pods", "default"), True),
    Case("service-account", [READER, crb("pod-reader", subject("ServiceAccount", "builder", "ci"))],
         req("get", "pods", "default", user=SA), True),
    Case("service-account-wrong-namespace", [READER, crb("pod-reader", subject("ServiceAccount", "builder", "qa"))],
         req("get", "pods", "default", user=SA), False),
    Case("service-account-defaults-to-binding-namespace",
         [READER, rb("ci", "ClusterRole", "pod-reader", subject("ServiceAccount", "builder"))],
         req("get", "pods", "ci", user=SA), True),
    Case("service-accounts-group", [READER, crb("pod-reader", subject("Group", "system:serviceaccounts:ci"))],
         req("get", "pods", "default", user=SA), True),
    Case("user-named-like-service-account-is-not-a-group-member",
         [READER, crb("pod-reader", subject("User", "system:serviceaccount:ci:builder"))],
         req("get", "pods", "x", user=SA), True, "a ServiceAccount is also a User by its full name"),
    Case("aggregation", [cluster_role("monitoring", aggregate={"agg": "mon"}),
                         cluster_role("mon-pods", rule(["get"], ["pods"]), labels={"agg": "mon"}),
                         cluster_role("mon-svc", rule(["get"], ["services"]), labels={"agg": "mon"}),
                         crb("monitoring", subject("User", "alice"))],
         req("get", "services", "default"), True),
    Case("aggregation-unlabelled-excluded", [cluster_role("monitoring", aggregate={"agg": "mon"}),
                                             cluster_role("secrets", rule(["get"], ["secrets"])),
                                             crb("monitoring", subject("User", "alice"))],
         req("get", "secrets", "default"), False),
    Case("aggregation-replaces-own-rules", [cluster_role("monitoring", rule(["get"], ["nodes"]), aggregate={"a": "b"}),
                                            crb("monitoring", subject("User", "alice"))],
         req("get", "nodes", ""), False, "the aggregation controller overwrites an aggregated role's rules"),
    Case("aggregation-chained", [cluster_role("top", aggregate={"to": "top"}),
                                 cluster_role("mid", aggregate={"to": "mid"}, labels={"to": "top"}),
                                 cluster_role("leaf", rule(["watch"], ["endpoints"]), labels={"to": "mid"}),
                                 crb("top", subject("User", "alice"))],
         req("watch", "endpoints", "default"), True),
    Case("aggregation-cycle-terminates", [cluster_role("a", aggregate={"x": "1"}, labels={"x": "1"}),
                                          crb("a", subject("User", "alice"))],
         req("get", "pods", "default"), False),
    Case("missing-role-grants-nothing", [crb("nope", subject("User", "alice"))], req("get", "pods", "default"), False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rbac_semantics(case: Case) -> None:
    verdict = RbacAuthorizer(StaticPolicy(case.policy)).authorize(case.request)
    assert verdict.allowed is case.allowed, case.note


def _bootstrap(user: UserInfo, verb: str, resource: str, namespace: str = "", name: str = "",
               group: str = "", sub: str = "") -> bool:
    authz = build_authorizer(["RBAC"], StaticPolicy(default_policy()), StaticGraph([]))
    return authz.authorize(Attributes(user, verb, resource, api_group=group, subresource=sub, namespace=namespace,
                                      name=name)).allowed


def test_system_masters_always_allowed() -> None:
    root = UserInfo("root", ("system:masters",))
    authz = build_authorizer(["RBAC"], StaticPolicy([]), StaticGraph([]))
    assert authz.authorize(Attributes(root, "delete", "nodes", name="n1")).allowed


def test_bootstrap_admin_edit_view_aggregate() -> None:
    viewer = UserInfo("v", ("viewers",))
    policy = [*default_policy(), rb("dev", "ClusterRole", "view", subject("Group", "viewers")),
              rb("dev", "ClusterRole", "admin", subject("User", "boss")),
              rb("dev", "ClusterRole", "edit", subject("User", "ed"))]
    authz = RbacAuthorizer(StaticPolicy(policy))
    assert authz.authorize(req("list", "pods", "dev", user=viewer)).allowed
    assert not authz.authorize(req("get", "secrets", "dev", "s", user=viewer)).allowed  # view excludes secrets
    assert not authz.authorize(req("create", "pods", "dev", user=viewer)).allowed
    editor = UserInfo("ed")
    assert authz.authorize(req("create", "deployments", "dev", group="apps", user=editor)).allowed
    assert authz.authorize(req("list", "pods", "dev", user=editor)).allowed  # view is aggregated into edit
    assert not authz.authorize(req("create", "rolebindings", "dev", group="rbac.authorization.k8s.io",
                                   user=editor)).allowed
    boss = UserInfo("boss")
    assert authz.authorize(req("create", "rolebindings", "dev", group="rbac.authorization.k8s.io", user=boss)).allowed
    assert authz.authorize(req("delete", "secrets", "dev", "s", user=boss)).allowed  # edit aggregated into admin
    assert not authz.authorize(req("list", "pods", "prod", user=boss)).allowed


@pytest.mark.parametrize("verb,resource,namespace,name,group,sub", [
    ("list", "pods", "", "", "", ""), ("watch", "nodes", "", "", "", ""),
    ("create", "pods", "default", "web", "", "binding"), ("update", "pods", "default", "web", "", "status"),
    ("create", "events", "default", "", "", ""), ("update", "leases", "kube-system", "kube-scheduler",
                                                  "coordination.k8s.io", ""),
])
def test_scheduler_role_covers_what_the_scheduler_calls(verb: str, resource: str, namespace: str, name: str,
                                                        group: str, sub: str) -> None:
    assert _bootstrap(UserInfo("system:kube-scheduler"), verb, resource, namespace, name, group, sub)


def test_component_roles_are_scoped() -> None:
    scheduler = UserInfo("system:kube-scheduler")
    assert not _bootstrap(scheduler, "update", "leases", "kube-system", "kube-controller-manager",
                          "coordination.k8s.io")
    assert not _bootstrap(scheduler, "get", "secrets", "default", "s")
    cm = UserInfo("system:kube-controller-manager")
    assert _bootstrap(cm, "create", "replicasets", "default", group="apps")
    assert _bootstrap(cm, "delete", "rolebindings", "dev", "x", group="rbac.authorization.k8s.io")
    assert _bootstrap(cm, "update", "deployments", "default", "web", group="apps", sub="status")
    proxy = UserInfo("system:kube-proxy")
    assert _bootstrap(proxy, "watch", "endpoints")
    assert not _bootstrap(proxy, "get", "secrets", "default", "s")
    anyone = UserInfo("x", ("system:authenticated",))
    assert _bootstrap(anyone, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")
    assert not _bootstrap(UserInfo("system:anonymous", ("system:unauthenticated",)), "create",
                          "selfsubjectaccessreviews", group="authorization.k8s.io")


def test_validation_accepts_colon_names_and_rejects_bad_rules() -> None:
    assert validate_rbac(cluster_role("system:kube-scheduler", rule(["get"], ["pods"]))) == []
    bad = role("dev", "a/b", PolicyRule(verbs=[], resources=["pods"]), urls(["get"], ["/x"]))
    fields = {c.field for c in validate_rbac(bad)}
    assert {"metadata.name", "rules[0].verbs", "rules[0].apiGroups", "rules[1].nonResourceURLs"} <= fields
    binding = RoleBinding(metadata=ObjectMeta(name="b", namespace="dev"), role_ref=RoleRef(kind="Nope", name="x"),
                          subjects=[Subject(kind="Robot", name="r")])
    fields = {c.field for c in validate_rbac(binding)}
    assert {"roleRef.kind", "subjects[0].kind"} <= fields
    for obj in default_policy():
        assert validate_rbac(obj) == [], obj.metadata.name
