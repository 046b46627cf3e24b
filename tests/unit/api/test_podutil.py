"""Pod helpers: readiness, conditions, effective requests, QoS."""

from __future__ import annotations

import time

from kubelite.api import Container, Node, NodeCondition, Pod, PodCondition
from kubelite.api.meta import now
from kubelite.api.podutil import (
    get_condition,
    pod_is_active,
    pod_is_available,
    pod_is_ready,
    pod_is_terminal,
    pod_requests,
    qos_class,
    set_condition,
)


def container(name: str, cpu: str | None = None, mem: str | None = None, **kw: object) -> Container:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    return Container.from_dict({"name": name, "image": "x", "resources": {"requests": req}, **kw})


def test_readiness_and_conditions() -> None:
    pod = Pod()
    assert not pod_is_ready(pod) and get_condition(pod.status, "Ready") is None
    assert set_condition(pod.status.conditions, PodCondition(type="Ready", status="True"))
    assert pod_is_ready(pod)
    first = get_condition(pod.status.conditions, "Ready")
    assert first and first.last_transition_time
    stamp = first.last_transition_time
    # Same status again: no change, transition time kept.
    assert not set_condition(pod.status.conditions, PodCondition(type="Ready", status="True"))
    cond = get_condition(pod.status, "Ready")
    assert cond and cond.last_transition_time == stamp and len(pod.status.conditions) == 1
    assert set_condition(pod.status.conditions, PodCondition(type="Ready", status="False", reason="Probe"))
    assert not pod_is_ready(pod)


def test_node_heartbeat_alone_is_not_a_change() -> None:
    node = Node()
    set_condition(node.status.conditions, NodeCondition(type="Ready", status="True", last_heartbeat_time="t1"))
    assert not set_condition(node.status.conditions,
                             NodeCondition(type="Ready", status="True", last_heartbeat_time="t2"))
    cond = get_condition(node.status, "Ready")
    assert cond and cond.last_heartbeat_time == "t2"


def test_availability_and_phases() -> None:
    pod = Pod()
    set_condition(pod.status.conditions, PodCondition(type="Ready", status="True", last_transition_time=now()))
    assert pod_is_available(pod, 0)
    assert not pod_is_available(pod, 30)
    assert pod_is_available(pod, 30, at=time.time() + 31)
    assert pod_is_active(pod) and not pod_is_terminal(pod)
    pod.status.phase = "Failed"
    assert pod_is_terminal(pod) and not pod_is_active(pod)
    pod.status.phase = "Running"
    pod.metadata.deletion_timestamp = now()
    assert not pod_is_active(pod)


def test_requests_sum_containers_and_take_max_of_init() -> None:
    pod = Pod()
    pod.spec.containers = [container("a", "100m", "64Mi"), container("b", "200m", "64Mi")]
    assert pod_requests(pod) == type(pod_requests(pod))(300, 128 * 2**20)
    pod.spec.init_containers = [container("init", "1", "16Mi")]
    r = pod_requests(pod)
    assert (r.cpu_millis, r.memory_bytes) == (1000, 128 * 2**20)
    # A sidecar (init container with restartPolicy Always) keeps running: it adds up.
    pod.spec.init_containers = [container("side", "50m", "8Mi", restartPolicy="Always")]
    r = pod_requests(pod)
    assert (r.cpu_millis, r.memory_bytes) == (350, 136 * 2**20)
    pod.spec.overhead = {"cpu": "10m"}
    assert pod_requests(pod).cpu_millis == 360


def test_non_zero_defaults_for_scoring() -> None:
    pod = Pod()
    pod.spec.containers = [container("a")]
    assert pod_requests(pod).cpu_millis == 0
    r = pod_requests(pod, non_zero=True)
    assert (r.cpu_millis, r.memory_bytes) == (100, 200 * 2**20)


def test_qos_class() -> None:
    pod = Pod()
    pod.spec.containers = [container("a")]
    assert qos_class(pod) == "BestEffort"
    pod.spec.containers = [container("a", "100m")]
    assert qos_class(pod) == "Burstable"
    pod.spec.containers = [Container.from_dict({"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})]
    assert qos_class(pod) == "Guaranteed"
