"""What a pod asks of a node and what a node offers, reduced to integers once.

Why a module of its own: quantities are strings in the API models ("500m",
"128Mi"); parsing them inside the filter loop would cost a parse per pod per
node per cycle. The cache parses every pod and node exactly once, when the
informer delivers it, and the plugins only compare integers. The rules
themselves (effective requests, scoring defaults) are kubelite.api.podutil's,
shared with the kubelet and kctl; this module only caches their results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import Node, Pod, Taint
from kubelite.api.podutil import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    Requests,
    condition_true,
    pod_requests,
    read_quantity,
)
from kubelite.api.quantity import cpu_millis, memory_bytes

__all__ = ["DEFAULT_MAX_PODS", "DEFAULT_MEMORY_REQUEST", "DEFAULT_MILLI_CPU_REQUEST", "HostPort", "NodeFacts",
           "PodInfo", "Requests", "make_pod_info", "node_facts", "pod_host_ports", "pod_key", "pod_uid_key",
           "updated_pod_info"]

# The kubelet's default --max-pods, used when a node does not publish "pods".
DEFAULT_MAX_PODS = 110

HostPort = tuple[str, str, int]
"""(hostIP or "0.0.0.0", protocol, hostPort) a pod occupies on its node."""


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A pod plus everything the plugins need from it, computed once.

    `requests` follow the fit rule (init containers run one at a time, so the
    pod needs max(sum of app containers, largest init container), plus
    overhead); `non_zero` is the same with per-container defaults, used only for
    scoring.
    """

    pod: Pod
    key: str  # namespace/name, for the queue and messages
    uid: str  # the cache identity (see pod_uid_key)
    requests: Requests
    non_zero: Requests
    host_ports: tuple[HostPort, ...] = field(default_factory=tuple)
    owner_uid: str = ""  # uid of the controlling owner (ReplicaSet...), for spreading

    @property
    def namespace(self) -> str:
        return self.pod.metadata.namespace or "default"

    @property
    def name(self) -> str:
        return self.pod.metadata.name or ""


def pod_key(pod: Pod) -> str:
    """`namespace/name`: the identity used by the queue and in messages."""
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def pod_uid_key(pod: Pod) -> str:
    """The cache identity: the uid, so a re-created pod of the same name is a different pod."""
    return pod.metadata.uid or pod_key(pod)


def pod_host_ports(pod: Pod) -> tuple[HostPort, ...]:
    """Host ports of all app containers (init containers have exited before others start)."""
    ports: list[HostPort] = []
    for c in pod.spec.containers:
        for p in c.ports:
            if p.host_port:
                ports.append((p.host_ip or "0.0.0.0", p.protocol or "TCP", int(p.host_port)))
    return tuple(ports)


def _owner_uid(pod: Pod) -> str:
    return next((r.uid for r in pod.metadata.owner_references if r.controller), "")


def make_pod_info(pod: Pod) -> PodInfo:
    """Parse a pod's requests and ports once (see PodInfo)."""
    return PodInfo(
        pod=pod,
        key=pod_key(pod),
        uid=pod_uid_key(pod),
        requests=pod_requests(pod, lenient=True),
        non_zero=pod_requests(pod, non_zero=True, lenient=True),
        host_ports=pod_host_ports(pod),
        owner_uid=_owner_uid(pod),
    )


def updated_pod_info(info: PodInfo, pod: Pod) -> PodInfo:
    """`info` for a newer version of the same pod (same uid), without parsing its requests again.

    Why this holds: a pod's containers, init containers and overhead cannot change once it exists
    (the apiserver forbids it, as Kubernetes does: only images, activeDeadlineSeconds and added
    tolerations may), so its requests and host ports are those of any earlier version. The owner
    references can change (adoption, orphaning) and are read again. This is what confirming a bind
    costs per pod instead of a second parse of every quantity (~40 us)."""
    return PodInfo(pod=pod, key=info.key, uid=info.uid, requests=info.requests, non_zero=info.non_zero,
                   host_ports=info.host_ports, owner_uid=_owner_uid(pod))


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """A node's allocatable resources and schedulability, parsed once per node update."""

    cpu: int
    memory: int
    pods: int
    ready: bool
    unschedulable: bool
    taints: tuple[Taint, ...] = ()
    """Read in every filter pass: a plain tuple, not a walk through the pydantic model."""


def node_facts(node: Node) -> NodeFacts:
    """Allocatable (falling back to capacity, as the API defaults it) and Ready/unschedulable."""
    status = node.status
    alloc: Mapping[str, Any] = status.allocatable or status.capacity or {}
    pods = read_quantity(alloc, "pods", int, lenient=True) if "pods" in alloc else DEFAULT_MAX_PODS
    return NodeFacts(
        cpu=read_quantity(alloc, "cpu", cpu_millis, lenient=True),
        memory=read_quantity(alloc, "memory", memory_bytes, lenient=True),
        pods=pods,
        ready=condition_true(status, "Ready"),
        unschedulable=bool(node.spec.unschedulable),
        taints=tuple(node.spec.taints),
    )
