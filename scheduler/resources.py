"""What a pod asks of a node and what a node offers, reduced to integers once.

Why a module of its own: quantities are strings in the API models ("500m",
"128Mi"); parsing them inside the filter loop would cost a parse per pod per
node per cycle. The cache parses every pod and node exactly once, when the
informer delivers it, and the plugins only compare integers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import Container, Node, Pod, Taint
from kubelite.api.quantity import cpu_millis, memory_bytes

log = logging.getLogger(__name__)

# Like kube-scheduler: a container without requests still counts for *scoring*
# (not for fitting) as if it asked for this much, so that "free" pods do not all
# pile onto one node.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

# The kubelet's default --max-pods, used when a node does not publish "pods".
DEFAULT_MAX_PODS = 110

HostPort = tuple[str, str, int]
"""(hostIP or "0.0.0.0", protocol, hostPort) a pod occupies on its node."""


@dataclass(frozen=True, slots=True)
class Requests:
    """Requested cpu (millicores) and memory (bytes) of a pod."""

    cpu: int = 0
    memory: int = 0


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


def _quantity(values: Mapping[str, Any] | None, name: str, parse: Any) -> int:
    if not values or name not in values:
        return 0
    raw = values[name]
    try:
        return int(parse(str(raw)))
    except Exception:  # validation should have caught it; never crash the scheduler on it
        log.warning("ignoring unparsable quantity", extra={"resource": name, "value": str(raw)})
        return 0


def _container_requests(container: Container, non_zero: bool) -> Requests:
    requests = container.resources.requests
    cpu = _quantity(requests, "cpu", cpu_millis)
    memory = _quantity(requests, "memory", memory_bytes)
    if non_zero:
        if "cpu" not in requests:
            cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            memory = DEFAULT_MEMORY_REQUEST
    return Requests(cpu, memory)


def _pod_requests(containers: Iterable[Container], init_containers: Iterable[Container],
                  overhead: Mapping[str, Any] | None, non_zero: bool) -> Requests:
    """Kubernetes' effective pod request.

    Init containers run one at a time before the app containers, so each needs
    its own request plus the sidecars (init containers with restartPolicy
    Always) started before it; sidecars keep running next to the app
    containers. The pod needs the maximum of those phases, plus overhead.
    """
    cpu = memory = 0
    for c in containers:
        r = _container_requests(c, non_zero)
        cpu += r.cpu
        memory += r.memory
    side_cpu = side_memory = 0
    init_cpu = init_memory = 0
    for c in init_containers:
        r = _container_requests(c, non_zero)
        if c.restart_policy == "Always":
            side_cpu += r.cpu
            side_memory += r.memory
            init_cpu = max(init_cpu, side_cpu)
            init_memory = max(init_memory, side_memory)
        else:
            init_cpu = max(init_cpu, side_cpu + r.cpu)
            init_memory = max(init_memory, side_memory + r.memory)
    cpu = max(cpu + side_cpu, init_cpu) + _quantity(overhead, "cpu", cpu_millis)
    memory = max(memory + side_memory, init_memory) + _quantity(overhead, "memory", memory_bytes)
    return Requests(cpu, memory)


def pod_host_ports(pod: Pod) -> tuple[HostPort, ...]:
    """Host ports of all app containers (init containers have exited before others start)."""
    ports: list[HostPort] = []
    for c in pod.spec.containers:
        for p in c.ports:
            if p.host_port:
                ports.append((p.host_ip or "0.0.0.0", p.protocol or "TCP", int(p.host_port)))
    return tuple(ports)


def make_pod_info(pod: Pod) -> PodInfo:
    """Parse a pod's requests and ports once (see PodInfo)."""
    spec = pod.spec
    overhead = spec.overhead
    return PodInfo(
        pod=pod,
        key=pod_key(pod),
        uid=pod_uid_key(pod),
        requests=_pod_requests(spec.containers, spec.init_containers, overhead, non_zero=False),
        non_zero=_pod_requests(spec.containers, spec.init_containers, overhead, non_zero=True),
        host_ports=pod_host_ports(pod),
        owner_uid=next((r.uid for r in pod.metadata.owner_references if r.controller), ""),
    )


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
    pods = _quantity(alloc, "pods", lambda s: int(str(s))) if "pods" in alloc else DEFAULT_MAX_PODS
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions)
    return NodeFacts(
        cpu=_quantity(alloc, "cpu", cpu_millis),
        memory=_quantity(alloc, "memory", memory_bytes),
        pods=pods,
        ready=ready,
        unschedulable=bool(node.spec.unschedulable),
        taints=tuple(node.spec.taints),
    )
