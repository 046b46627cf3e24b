"""The Node the kubelet registers: labels, capacity, addresses, conditions."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from kubelet.node import (
    LEASE_DURATION_SECONDS,
    NodeAgent,
    NodeConfig,
    _without_heartbeats,
    build_node,
    lease_renew_interval,
    node_status,
)
from kubelet.pod_dispatcher import remove_orphan_dirs
from kubelet.routes import RouteSync
from kubelite.api.core import Node, NodeStatus
from kubelite.client import ApiClient
from kubelite.client.informer import Store

CFG = NodeConfig(name="node-1", ip="127.0.0.11", kubelet_port=10250, runtime_name="process",
                 runtime_version="0.1.0", isolated=False)


def test_node_object_says_who_it_is_and_that_it_has_no_isolation() -> None:
    node = build_node(CFG)
    assert node.metadata.labels == {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": node.metadata.labels["kubernetes.io/arch"]}
    assert node.metadata.annotations["kubelite.io/container-runtime"] == "process"
    assert node.metadata.annotations["kubelite.io/isolation"] == "none"


def test_status_capacity_addresses_and_ready() -> None:
    d = node_status(CFG, NodeStatus(), "2026-01-01T00:00:00Z").to_dict()
    assert d["capacity"]["cpu"] == str(os.cpu_count()) and d["capacity"]["memory"].endswith("Ki")
    assert d["allocatable"] == d["capacity"] and d["capacity"]["pods"] == "110"
    assert d["addresses"] == [{"type": "InternalIP", "address": "127.0.0.11"}, {"type": "Hostname", "address": "node-1"}]
    assert d["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    ready = next(c for c in d["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady" and "no isolation" in ready["message"]
    assert d["nodeInfo"]["containerRuntimeVersion"] == "process://0.1.0" and d["nodeInfo"]["operatingSystem"] == "linux"
    override = NodeConfig(**{**CFG.__dict__, "capacity_cpu": "8", "capacity_memory": "16Gi"})
    assert node_status(override, NodeStatus(), "t").capacity == {"cpu": "8", "memory": "16Gi", "pods": "110"}


def test_the_node_lease_is_renewed_every_quarter_of_its_duration_as_in_kubernetes() -> None:
    assert LEASE_DURATION_SECONDS == 40 and lease_renew_interval(LEASE_DURATION_SECONDS) == 10.0
    agent = NodeAgent(cast(ApiClient, SimpleNamespace()), CFG, lease_duration=8)
    assert agent.lease_duration == 8 and agent.lease_interval == 2.0


def test_only_heartbeats_change_between_reports() -> None:
    first = node_status(CFG, NodeStatus(), "2026-01-01T00:00:00Z")
    later = node_status(CFG, first, "2026-01-01T00:00:10Z")
    assert first.to_dict() != later.to_dict()
    assert _without_heartbeats(first) == _without_heartbeats(later)
    assert all(c.last_transition_time == "2026-01-01T00:00:00Z" for c in later.conditions)


def test_orphan_pod_dirs_are_removed(tmp_path: Path) -> None:
    for parent in ("pods", "sandboxes"):
        (tmp_path / parent / "default_web_uid-1" / "main").mkdir(parents=True)
        (tmp_path / parent / "default_old_uid-2").mkdir(parents=True)
    removed = remove_orphan_dirs(tmp_path, {"uid-1"})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in removed) == [
        "pods/default_old_uid-2", "sandboxes/default_old_uid-2"]
    assert (tmp_path / "pods" / "default_web_uid-1" / "main").is_dir()


def test_orphan_scan_never_touches_the_claims_data(tmp_path: Path) -> None:
    data = tmp_path / "volumes" / "local-path" / "pvc-1234"
    data.mkdir(parents=True)
    (data / "id").write_text("web-1-abc")
    (tmp_path / "volumes" / "default_gone_uid-9").mkdir()
    removed = remove_orphan_dirs(tmp_path, {"uid-1"})
    assert [p.relative_to(tmp_path).as_posix() for p in removed] == ["volumes/default_gone_uid-9"]
    assert (data / "id").read_text() == "web-1-abc"


def test_networked_node_is_not_ready_until_it_has_a_pod_cidr() -> None:
    cfg = NodeConfig(**{**CFG.__dict__, "runtime_name": "runc", "isolated": True})
    waiting = node_status(cfg, NodeStatus(), "t")
    ready = next(c for c in waiting.conditions if c.type == "Ready")
    assert ready.status == "False" and "spec.podCIDR" in (ready.message or "")
    assigned = node_status(cfg, waiting, "t2", pod_cidr="10.244.1.0/24")
    ready = next(c for c in assigned.conditions if c.type == "Ready")
    assert ready.status == "True" and ready.last_transition_time == "t2"
    # Nodes without a pod network (process runtime) never wait for one.
    assert next(c for c in node_status(CFG, NodeStatus(), "t").conditions if c.type == "Ready").status == "True"


class _WatchedNodes:
    """What NodeAgent reads of the routes' Node informer: has_synced and a store by name."""

    def __init__(self, node: Node) -> None:
        self.has_synced = True
        self.store: Store[Node] = Store()
        self.store._put(node.metadata.name or "", node)


class _Api:
    """Records the kubelet's calls; a Get would be a kvstore read on every status pass."""

    def __init__(self, node: Node) -> None:
        self.node, self.gets, self.writes = node, 0, []  # type: list[Node]

    async def get(self, _cls: type, _name: str, _ns: str) -> Node:
        self.gets += 1
        return self.node

    async def update_status(self, node: Node) -> Node:
        self.writes.append(node)
        return node


async def test_status_pass_reads_the_watched_node_and_rewrites_a_condition_changed_by_others() -> None:
    reported = build_node(CFG)
    reported.status = node_status(CFG, NodeStatus(), "2026-01-01T00:00:00Z")
    api = _Api(reported)
    agent = NodeAgent(cast(ApiClient, api), CFG)
    agent.routes = cast(RouteSync, SimpleNamespace(informer=_WatchedNodes(reported)))
    agent.registered.set()
    await agent._write_status(reported, force=True)  # the first report, as registration does
    api.writes.clear()

    await agent.update_status()  # nothing changed: no request at all
    assert api.gets == 0 and api.writes == []

    lost = reported.model_copy(deep=True)  # the node-lifecycle controller marked it Unknown
    next(c for c in lost.status.conditions if c.type == "Ready").status = "Unknown"
    agent.routes.informer.store._put("node-1", lost)
    await agent.update_status()
    assert api.gets == 0 and len(api.writes) == 1
    assert next(c for c in api.writes[0].status.conditions if c.type == "Ready").status == "True"
    assert next(c for c in lost.status.conditions if c.type == "Ready").status == "Unknown"  # cache untouched


async def test_status_pass_gets_the_node_without_a_node_informer() -> None:
    reported = build_node(CFG)
    api = _Api(reported)
    agent = NodeAgent(cast(ApiClient, api), CFG)
    agent.registered.set()
    await agent.update_status()
    assert api.gets == 1 and len(api.writes) == 1  # the first report of a new status
