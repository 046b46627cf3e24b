"""The built-in plugins, one small module each, and the default profile.

Why a registry function instead of module-level instances: a profile holds the
binder, which needs the API client; building it per scheduler keeps plugins free
of globals and lets tests assemble any subset.
"""

from __future__ import annotations

from kubelite.client import ApiClient
from scheduler.framework import Profile
from scheduler.plugins.default_binder import DefaultBinder
from scheduler.plugins.inter_pod_affinity import InterPodAffinity
from scheduler.plugins.least_allocated import LeastAllocated
from scheduler.plugins.node_affinity import NodeAffinity
from scheduler.plugins.node_name import NodeName
from scheduler.plugins.node_ports import NodePorts
from scheduler.plugins.node_ready import NodeReady
from scheduler.plugins.node_resources_fit import NodeResourcesFit
from scheduler.plugins.node_selector import NodeSelector
from scheduler.plugins.node_unschedulable import NodeUnschedulable
from scheduler.plugins.pod_topology_spread import PodTopologySpread
from scheduler.plugins.selector_spread import SelectorSpread
from scheduler.plugins.taint_toleration import TaintToleration
from scheduler.plugins.volumebinding import InformerVolumes, VolumeBinding

__all__ = [
    "DefaultBinder", "InterPodAffinity", "LeastAllocated", "NodeAffinity", "NodeName", "NodePorts", "NodeReady",
    "NodeResourcesFit", "NodeSelector", "NodeUnschedulable", "PodTopologySpread", "SelectorSpread",
    "TaintToleration", "VolumeBinding", "default_profile",
]


def default_profile(client: ApiClient | None, scheduler_name: str = "default-scheduler") -> Profile:
    """Filters in kube-scheduler's order (cheap, decisive checks first), scores, the API binder.

    Spreading weighs twice least-allocated, as topology spreading does in
    kube-scheduler's default profile: replicas first go to different nodes,
    then to the emptier ones.
    """
    fit, node_name, selector, ports = NodeResourcesFit(), NodeName(), NodeSelector(), NodePorts()
    unschedulable, ready = NodeUnschedulable(), NodeReady()
    affinity, taints, pod_affinity, spread = NodeAffinity(), TaintToleration(), InterPodAffinity(), PodTopologySpread()
    lister = InformerVolumes(client) if client is not None else None
    volumes = [VolumeBinding(lister, client)] if lister is not None else []
    return Profile(
        scheduler_name=scheduler_name,
        pre_filter=[unschedulable, ready, node_name, taints, selector, affinity, ports, fit, *volumes, pod_affinity,
                    spread],
        filter=[unschedulable, ready, node_name, taints, selector, affinity, ports, fit, *volumes,
                pod_affinity, spread],
        score=[(LeastAllocated(), 1), (SelectorSpread(), 2), (affinity, 2), (taints, 3), (pod_affinity, 2),
               (spread, 2)],
        bind=[*volumes, DefaultBinder(client)] if client is not None else [],
        informers=lister.informers if lister is not None else [],
    )
