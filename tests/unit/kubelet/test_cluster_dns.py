"""Pods' resolv.conf under cluster DNS, per dnsPolicy (like the kubelet's)."""

from __future__ import annotations

from typing import Any

from kubelet.pod_config import cluster_dns
from kubelite.api import Pod


def pod(**spec: Any) -> Pod:
    return Pod.from_dict({"metadata": {"name": "p", "namespace": "shop"},
                          "spec": {"containers": [{"name": "c", "image": "x"}], **spec}})


def test_cluster_first_search_path_and_merges_dns_config() -> None:
    hook = cluster_dns(["10.96.0.10"])
    cfg = hook(pod())
    assert cfg is not None
    assert cfg.servers == ["10.96.0.10"]
    assert cfg.searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert cfg.options == ["ndots:5"]
    merged = hook(pod(dnsConfig={"searches": ["corp.example"], "options": [{"name": "ndots", "value": "2"}]}))
    assert merged is not None and merged.searches[-1] == "corp.example" and merged.options == ["ndots:2"]


def test_other_policies_use_node_or_pod_config() -> None:
    hook = cluster_dns(["10.96.0.10"])
    assert hook(pod(dnsPolicy="Default")) is None
    assert hook(pod(hostNetwork=True)) is None
    assert hook(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")) is not None
    only = hook(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"]}))
    assert only is not None and only.servers == ["1.1.1.1"]
    assert cluster_dns([])(pod()) is None  # no cluster DNS configured: the node's resolv.conf
