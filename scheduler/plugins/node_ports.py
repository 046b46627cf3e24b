"""Filter: the pod's hostPorts must be free on the node.

Why hostIP matters: two pods may use the same port on different host IPs, but
a wildcard (0.0.0.0) binding conflicts with every IP, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubelite.api import Pod
from scheduler.framework import ClusterEvent, CycleState, NodeInfo
from scheduler.plugins.pod_filter import PodRequestFilter
from scheduler.resources import HostPort

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
WILDCARD = "0.0.0.0"


def ports_conflict(wanted: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    used_list = list(used)
    for ip, proto, port in wanted:
        for uip, uproto, uport in used_list:
            if port == uport and proto == uproto and (ip == uip or WILDCARD in (ip, uip)):
                return True
    return False


class NodePorts(PodRequestFilter):
    name = NAME
    reason = REASON
    events = frozenset({ClusterEvent.NODE_ADD, ClusterEvent.ASSIGNED_POD_DELETE})

    def asks(self, state: CycleState, pod: Pod) -> bool:
        return bool(state.pod_info.host_ports)

    def fits(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> bool:
        return not (node_info.used_ports and ports_conflict(state.pod_info.host_ports, node_info.used_ports))
