"""Informer events -> cache and queue updates.

Why separate from the loop: this is the one place that decides what a pod or
node change *means* for scheduling -- which pods are ours to schedule, when a
pod counts on a node, and which cluster changes may help parked pods -- and it
is all synchronous, so it is tested by calling the handlers directly.
"""

from __future__ import annotations

import logging

from kubelite.api import Node, Pod
from kubelite.api.podutil import is_pod_terminal
from scheduler.cache import SchedulerCache
from scheduler.framework import ClusterEvent
from scheduler.queue import SchedulingQueue
from scheduler.resources import node_facts

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"


def is_assigned(pod: Pod) -> bool:
    return bool(pod.spec.node_name)


def node_change_events(old: Node, new: Node) -> list[ClusterEvent]:
    """What changed that scheduling cares about; heartbeats and images change nothing."""
    events: list[ClusterEvent] = []
    old_facts, new_facts = node_facts(old), node_facts(new)
    if (old_facts.cpu, old_facts.memory, old_facts.pods) != (new_facts.cpu, new_facts.memory, new_facts.pods):
        events.append(ClusterEvent.NODE_ALLOCATABLE_CHANGE)
    if old.metadata.labels != new.metadata.labels:
        events.append(ClusterEvent.NODE_LABEL_CHANGE)
    if old.spec.taints != new.spec.taints:
        events.append(ClusterEvent.NODE_TAINT_CHANGE)
    if {c.type: c.status for c in old.status.conditions} != {c.type: c.status for c in new.status.conditions}:
        events.append(ClusterEvent.NODE_CONDITION_CHANGE)
    if bool(old.spec.unschedulable) != bool(new.spec.unschedulable):
        events.append(ClusterEvent.NODE_SPEC_UNSCHEDULABLE_CHANGE)
    return events


class EventHandlers:
    """The informer callbacks of one scheduler."""

    def __init__(self, cache: SchedulerCache, queue: SchedulingQueue,
                 scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> None:
        self.cache = cache
        self.queue = queue
        self.scheduler_name = scheduler_name

    def responsible_for(self, pod: Pod) -> bool:
        return (pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME) == self.scheduler_name

    def wants_scheduling(self, pod: Pod) -> bool:
        """Pending, ours, not going away, not finished."""
        return (not is_assigned(pod) and self.responsible_for(pod)
                and not pod.metadata.deletion_timestamp and not is_pod_terminal(pod))

    # --- pods -----------------------------------------------------------------

    def on_pod_add(self, pod: Pod) -> None:
        if is_assigned(pod):
            self.queue.delete(pod)
            if is_pod_terminal(pod):
                self.cache.remove_pod(pod)  # in case we had assumed it
            else:
                self.cache.add_pod(pod)
                self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_ADD)
        elif self.wants_scheduling(pod) and not self.cache.is_assumed(pod):
            self.queue.add(pod)

    def on_pod_update(self, old: Pod, new: Pod) -> None:
        if is_assigned(new):
            if not is_assigned(old):
                self.queue.delete(new)  # bound (by us: confirms the assumption)
            if is_pod_terminal(new):
                if self.cache.remove_pod(new):
                    self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_DELETE)
                return
            self.cache.update_pod(new)
            if not is_assigned(old):
                self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_ADD)
            return
        if not self.wants_scheduling(new):
            self.queue.delete(new)
            return
        if self.cache.is_assumed(new):
            return  # our bind is in flight; the informer has not seen it yet
        self.queue.update(old, new)

    def on_pod_delete(self, pod: Pod) -> None:
        self.queue.delete(pod)
        if self.cache.remove_pod(pod):  # assigned or assumed: its resources are free again
            self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_DELETE)

    # --- nodes ----------------------------------------------------------------

    def on_node_add(self, node: Node) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active(ClusterEvent.NODE_ADD)

    def on_node_update(self, old: Node, new: Node) -> None:
        events = node_change_events(old, new)
        self.cache.update_node(new)
        for event in events:
            self.queue.move_all_to_active(event)

    def on_node_delete(self, node: Node) -> None:
        self.cache.remove_node(node)
