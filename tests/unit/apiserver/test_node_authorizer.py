"""The Node authorizer: a kubelet's identity reaches only what its own pods need."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.authn.user import UserInfo
from apiserver.authz import Attributes
from apiserver.authz.node import NodeAuthorizer, StaticGraph, pod_references

N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))


def pod(name: str, node: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"nodeName": node, **spec}}


WEB = pod("web", "n1", volumes=[{"name": "v", "secret": {"secretName": "tls"}},
                                {"name": "c", "configMap": {"name": "conf"}},
                                {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                                {"name": "p", "projected": {"sources": [{"secret": {"name": "proj"}}]}}],
          containers=[{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "envsec",
                                                                                         "key": "k"}}}],
                       "envFrom": [{"configMapRef": {"name": "envcm"}}]}],
          imagePullSecrets=[{"name": "pull"}])
OTHER = pod("db", "n2", volumes=[{"name": "v", "secret": {"secretName": "db-secret"}}])
AUTHZ = NodeAuthorizer(StaticGraph([WEB, OTHER]))


def ask(verb: str, resource: str, namespace: str = "", name: str = "", group: str = "", sub: str = "",
        body_name: str = "", user: UserInfo = N1) -> bool:
    return AUTHZ.authorize(Attributes(user, verb, resource, api_group=group, subresource=sub, namespace=namespace,
                                      name=name, body_name=body_name)).allowed


def test_references_cover_every_place_a_pod_names_an_object() -> None:
    assert pod_references(WEB) == {("secret", "tls"), ("configmap", "conf"), ("pvc", "data"), ("secret", "proj"),
                                   ("secret", "envsec"), ("configmap", "envcm"), ("secret", "pull")}


@pytest.mark.parametrize("resource,name", [("secrets", "tls"), ("configmaps", "conf"),
                                           ("persistentvolumeclaims", "data"), ("secrets", "proj"),
                                           ("secrets", "envsec"), ("configmaps", "envcm"), ("secrets", "pull")])
def test_node_reads_objects_its_pods_reference(resource: str, name: str) -> None:
    assert ask("get", resource, "default", name)
    assert ask("watch", resource, "default", name)  # a watch pinned by metadata.name=


def test_node_cannot_read_other_objects() -> None:
    assert not ask("get", "secrets", "default", "db-secret")  # referenced by a pod on n2
    assert not ask("get", "secrets", "other", "tls")  # same name, other namespace
    assert not ask("list", "secrets", "default")  # no listing all secrets
    assert not ask("update", "secrets", "default", "tls")
    verdict = AUTHZ.authorize(Attributes(N1, "get", "secrets", namespace="default", name="db-secret"))
    assert verdict.reason == "no relationship found between node 'n1' and this object"


def test_node_reads_cluster_state() -> None:
    for resource in ("pods", "services", "endpoints", "nodes", "namespaces"):
        assert ask("list", resource) and ask("watch", resource)
    assert ask("get", "nodes", name="n2")
    # a joined node's proxy enforces NetworkPolicies as the node: it reads them, never writes
    assert ask("list", "networkpolicies", group="networking.k8s.io")
    assert not ask("create", "networkpolicies", "default", group="networking.k8s.io")
    assert not ask("delete", "namespaces", name="default")


def test_node_writes_only_its_own_node_and_lease() -> None:
    assert ask("create", "nodes", body_name="n1")
    assert not ask("create", "nodes", body_name="n2")
    assert ask("update", "nodes", name="n1") and ask("update", "nodes", name="n1", sub="status")
    assert not ask("update", "nodes", name="n2", sub="status")
    lease = "coordination.k8s.io"
    assert ask("create", "leases", "kube-node-lease", group=lease, body_name="n1")
    assert ask("update", "leases", "kube-node-lease", "n1", group=lease)
    assert not ask("update", "leases", "kube-node-lease", "n2", group=lease)
    assert not ask("update", "leases", "kube-system", "n1", group=lease)


def test_node_writes_only_its_own_pods_status() -> None:
    assert ask("update", "pods", "default", "web", sub="status")
    assert ask("delete", "pods", "default", "web")
    assert not ask("update", "pods", "default", "db", sub="status")
    assert not ask("delete", "pods", "default", "db")
    assert ask("create", "pods", "default", "web", sub="eviction")  # `kubelite leave` drains as the node
    assert not ask("create", "pods", "default", "db", sub="eviction")
    assert not ask("update", "pods", "default", "web")  # spec updates are not the kubelet's
    assert not ask("create", "pods", "default")
    assert not ask("create", "pods", "default", "web", sub="binding")
    assert not ask("get", "pods", "default", "web", sub="log")


def test_node_events_and_nothing_else() -> None:
    assert ask("create", "events", "default")
    assert not ask("create", "deployments", "default", group="apps")
    assert not AUTHZ.authorize(Attributes(N1, "get", path="/metrics")).allowed


def test_only_node_identities_are_judged() -> None:
    assert AUTHZ.authorize(Attributes(UserInfo("alice"), "get", "secrets", namespace="default",
                                      name="tls")).reason == ""
    not_in_group = UserInfo("system:node:n1", ("system:authenticated",))
    assert not ask("get", "secrets", "default", "tls", user=not_in_group)


def test_tokens_only_for_own_pods_and_their_service_account() -> None:
    def token(sa: str, bound: str, namespace: str = "default") -> bool:
        return AUTHZ.authorize(Attributes(N1, "create", "serviceaccounts", subresource="token", namespace=namespace,
                                          name=sa, bound_pod=bound)).allowed

    assert token("default", "web")  # web runs as the default ServiceAccount on n1
    assert not token("builder", "web")  # not the pod's ServiceAccount
    assert not token("default", "db")  # a pod on another node
    assert not token("default", "")  # unbound tokens are not the kubelet's to ask
    assert not token("default", "web", namespace="other")
