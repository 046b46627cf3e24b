"""Which pod changes cost the proxy a sync: only those the NetworkPolicy chains can depend on.

Why: every proxy watches every pod; a pod start (it gains an IP) used to make each
proxy rebuild its rules, for pods no policy looks at too (issue 20). The property
test shows the skip is safe: whenever `PolicyReach` says a change cannot matter,
compiling with the old and the new pod gives exactly the same chains.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from kubelite.api import Pod
from kubelite.api.networking import NetworkPolicy
from kubelite.client import ApiClient, Store
from kubelite.proxy.netpol import NetpolInput, PodRecord, compile_policies
from kubelite.proxy.netpolreach import PolicyReach
from kubelite.proxy.netpolwatch import NetpolWatch
from kubelite.proxy.rules import NP_FORWARD, RuleSet
from tests.unit.proxy.test_netpol import (
    ALLOW_CLIENT,
    CASES,
    DENY_INGRESS,
    NAMESPACES,
    NODE,
    PODS,
    pod,
    policy,
)

NEWCOMER = pod("newcomer", "10.244.3.9", ns="batch", node="node-3", app="bench")
LOCAL_APP = pod("web-2", "10.244.1.20", ns="app")
REMOTE_CLIENT = pod("client-2", "10.244.2.20", ns="app", node="node-2", role="client")
REMOTE_PLAIN = pod("plain", "10.244.2.21", ns="app", node="node-2")


def chains(policies: list[NetworkPolicy], pods: list[PodRecord]) -> dict[str, list[str]]:
    return compile_policies(NetpolInput(policies, pods, NAMESPACES, NODE)).chains


def changes(p: PodRecord) -> list[tuple[PodRecord | None, PodRecord | None]]:
    """A pod appearing, leaving, moving IP, gaining a label, and gaining a named port."""
    return [(None, p), (p, None), (p, dataclasses.replace(p, ip="10.244.9.9")),
            (p, dataclasses.replace(p, labels=(*p.labels, ("role", "client")))),
            (p, dataclasses.replace(p, ports=(("http", "TCP", 9090),)))]


@pytest.mark.parametrize("policies", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_a_change_it_calls_irrelevant_never_changes_the_chains(policies: list[NetworkPolicy]) -> None:
    reach = PolicyReach(policies, NAMESPACES, NODE)
    for subject in (NEWCOMER, LOCAL_APP, REMOTE_CLIENT, REMOTE_PLAIN, *PODS):
        base = [p for p in PODS if p.key != subject.key]
        for old, new in changes(subject):
            if reach.affected(old, new):
                continue
            before = chains(policies, base + ([old] if old else []))
            after = chains(policies, base + ([new] if new else []))
            assert before == after, (subject.key, old, new)


def test_without_policies_no_pod_change_matters() -> None:
    reach = PolicyReach([], NAMESPACES, NODE)
    assert not any(reach.affected(old, new) for p in (*PODS, NEWCOMER) for old, new in changes(p))


def test_targets_and_peers_matter_other_pods_do_not() -> None:
    deny = PolicyReach([DENY_INGRESS], NAMESPACES, NODE)
    assert deny.affected(None, LOCAL_APP)  # a new local pod the policy isolates: a chain of its own
    assert not deny.affected(None, REMOTE_PLAIN)  # selected, but isolated by its own node's proxy
    assert not deny.affected(None, NEWCOMER)  # another namespace
    allow = PolicyReach([ALLOW_CLIENT], NAMESPACES, NODE)
    assert allow.affected(None, REMOTE_CLIENT)  # a peer: the server's chain lists its IP
    assert not allow.affected(None, REMOTE_PLAIN)
    assert not allow.affected(REMOTE_CLIENT, REMOTE_CLIENT)  # unchanged record


def test_named_egress_port_towards_addresses_reads_every_pod() -> None:
    np = policy({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/16"}}], "ports": [{"port": "http"}]}]})
    assert PolicyReach([np], NAMESPACES, NODE).affected(None, NEWCOMER)


def test_a_selector_it_cannot_evaluate_counts_every_pod() -> None:
    np = policy({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}})
    assert PolicyReach([np], NAMESPACES, NODE).affected(None, NEWCOMER)


def api_pod(name: str, ip: str = "", ns: str = "app", node: str = NODE, **labels: str) -> Pod:
    d: dict[str, Any] = {"metadata": {"name": name, "namespace": ns, "labels": labels,
                                      "resourceVersion": str(len(name) + len(ip))},
                         "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}}
    if ip:
        d["status"] = {"phase": "Running", "podIP": ip}
    return Pod.from_dict(d)


def test_watch_requests_no_sync_for_pods_no_policy_reads_but_keeps_their_records() -> None:
    requests: list[int] = []
    watch = NetpolWatch(cast(ApiClient, object()), NODE, lambda: requests.append(1))
    watch.pods._upsert(api_pod("bench-1"))  # created, no IP yet
    watch.pods._upsert(api_pod("bench-1", "10.244.1.50"))  # started: gains its IP
    watch.pods._upsert(api_pod("bench-1", "10.244.1.50", team="x"))  # relabelled
    watch.pods._delete(api_pod("bench-1", "10.244.1.50", team="x"))
    watch.pods._upsert(api_pod("bench-2", "10.244.1.51"))
    assert requests == []  # no NetworkPolicy: nothing the proxy programs changed
    assert [r.key for r in watch.records.values()] == ["app/bench-2"]

    watch.policies._upsert(DENY_INGRESS)
    assert requests == [1]
    watch.pods._upsert(api_pod("bench-3", "10.244.1.52"))  # now isolated by the policy: its chain is due
    assert requests == [1, 1]
    watch.pods._upsert(api_pod("elsewhere", "10.244.3.3", ns="batch"))
    assert requests == [1, 1]


def test_watch_compiles_from_the_kept_records() -> None:
    watch = NetpolWatch(cast(ApiClient, object()), NODE, lambda: None)
    watch.policies._upsert(DENY_INGRESS)
    watch.pods._upsert(api_pod("a", "10.244.1.60"))
    watch.pods._upsert(api_pod("b"))  # no IP: no record
    rules = RuleSet()
    compiled = watch.add_to(rules, Store(), Store())
    assert compiled.isolated_ingress == 1
    assert any("-d 10.244.1.60/32" in r for r in compiled.chains[NP_FORWARD])
