"""Small builders for Pods and Nodes used by the scheduler's unit tests."""

from __future__ import annotations

import itertools
from typing import Any

from kubelite.api import Node, Pod

_uids = itertools.count(1)


def make_pod(name: str, cpu: str | None = None, memory: str | None = None, *, namespace: str = "default",
             node_name: str | None = None, node_selector: dict[str, str] | None = None,
             init: list[dict[str, Any]] | None = None, host_port: int | None = None,
             scheduler_name: str | None = None, labels: dict[str, str] | None = None,
             phase: str | None = None, uid: str | None = None, owner: str | None = None) -> Pod:
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    container: dict[str, Any] = {"name": "main", "image": "busybox", "resources": {"requests": requests}}
    if host_port is not None:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port}]
    spec: dict[str, Any] = {"containers": [container]}
    if init:
        spec["initContainers"] = init
    if node_name:
        spec["nodeName"] = node_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    d: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{next(_uids)}",
                     "labels": labels or {}},
        "spec": spec,
    }
    if phase:
        d["status"] = {"phase": phase}
    if owner:
        d["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                             "uid": f"uid-{owner}", "controller": True}]
    return Pod.from_dict(d)


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", *, ready: bool = True,
              unschedulable: bool = False, labels: dict[str, str] | None = None) -> Node:
    return Node.from_dict({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    })


def assigned(pod: Pod, node: str) -> Pod:
    return pod.model_copy(update={"spec": pod.spec.model_copy(update={"node_name": node})})
