"""The shape shared by filters that only concern pods asking for something
(NodeName, NodeSelector, NodePorts).

Why a base class: each of them skips pods that do not ask (PreFilter SKIP, so
the framework does not even call Filter for them), fails a node with one fixed
reason, and is retried on a fixed set of cluster events; only "does the pod
ask" and "does this node fit" differ, and those are all a plugin writes.
"""

from __future__ import annotations

from typing import ClassVar

from kubelite.api import Pod
from scheduler.framework import SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status


class PodRequestFilter:
    """Filter on what the pod asks for; subclasses set the class attributes and the two checks."""

    name: str
    reason: ClassVar[str]
    events: ClassVar[frozenset[ClusterEvent]]

    def asks(self, state: CycleState, pod: Pod) -> bool:
        """Whether the pod asks for anything this filter checks."""
        raise NotImplementedError

    def fits(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> bool:
        """Whether the node gives the pod what it asks for (called only when it asks)."""
        raise NotImplementedError

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        return SUCCESS if self.asks(state, pod) else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if self.asks(state, pod) and not self.fits(state, pod, node_info):
            return Status.unschedulable(self.reason, plugin=self.name)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return self.events
