"""SelfSubjectRulesReview's rule list comes from the same authorizer chain that decides requests."""

from __future__ import annotations

from apiserver.authn.user import UserInfo
from apiserver.authz import build_authorizer
from apiserver.authz.node import StaticGraph
from apiserver.authz.rbac import StaticPolicy
from apiserver.authz.rules import NODE_UNLISTABLE, rules_for
from tests.unit.apiserver.test_rbac import cluster_role, rb, role, rule, subject, urls

ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def test_rbac_rules_bound_in_the_namespace_and_cluster_wide() -> None:
    policy = [role("dev", "reader", rule(["get", "list"], ["pods"])),
              rb("dev", "Role", "reader", subject("User", "alice")),
              cluster_role("health", urls(["get"], ["/healthz"])),
              rb("other", "ClusterRole", "health", subject("Group", "devs"))]
    authz = build_authorizer(["Node", "RBAC"], StaticPolicy(policy), StaticGraph([]))
    found = rules_for(authz, ALICE, "dev")
    assert [(r.verbs, r.resources) for r in found.resource_rules] == [(["get", "list"], ["pods"])]
    assert found.non_resource_rules == [] and not found.incomplete  # "health" is bound only in "other"
    assert rules_for(authz, ALICE, "other").non_resource_rules[0].non_resource_urls == ["/healthz"]
    assert rules_for(authz, ALICE, "elsewhere").resource_rules == []


def test_masters_get_everything_and_nodes_are_incomplete() -> None:
    authz = build_authorizer(["Node", "RBAC"], StaticPolicy([]), StaticGraph([]))
    root = rules_for(authz, UserInfo("root", ("system:masters",)), "dev")
    assert root.resource_rules[0].verbs == ["*"] and root.non_resource_rules[0].non_resource_urls == ["*"]
    node = rules_for(authz, UserInfo("system:node:n1", ("system:nodes",)), "dev")
    assert node.incomplete and node.errors == [NODE_UNLISTABLE]
