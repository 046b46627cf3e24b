"""Pod requests and node facts: what the scheduler counts, parsed once."""

from __future__ import annotations

from kubelite.api import Node
from scheduler.resources import (
    DEFAULT_MAX_PODS,
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    Requests,
    make_pod_info,
    node_facts,
)
from tests.unit.scheduler.factories import make_node, make_pod


def test_app_containers_add_up() -> None:
    pod = make_pod("p", "250m", "64Mi")
    pod.spec.containers.append(pod.spec.containers[0].model_copy(update={"name": "side"}))
    assert make_pod_info(pod).requests == Requests(500, 128 * 1024 * 1024)


def test_init_containers_count_by_their_maximum_not_their_sum() -> None:
    init = [
        {"name": "i1", "resources": {"requests": {"cpu": "2", "memory": "1Mi"}}},
        {"name": "i2", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
    ]
    info = make_pod_info(make_pod("p", "500m", "100Mi", init=init))
    # cpu: max(app 500m, biggest init 2000m); memory: max(app 100Mi, biggest init 1Gi)
    assert info.requests == Requests(2000, 1024 ** 3)


def test_sidecar_init_containers_keep_running_next_to_the_app() -> None:
    init = [
        {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
        {"name": "setup", "resources": {"requests": {"cpu": "1"}}},
    ]
    info = make_pod_info(make_pod("p", "500m", init=init))
    # setup phase: 300m + 1000m; running phase: 500m + 300m
    assert info.requests.cpu == 1300


def test_overhead_is_added() -> None:
    pod = make_pod("p", "100m", "10Mi")
    pod.spec.overhead = {"cpu": "50m", "memory": "1Mi"}
    assert make_pod_info(pod).requests == Requests(150, 11 * 1024 * 1024)


def test_pods_without_requests_fit_as_zero_but_score_as_defaults() -> None:
    info = make_pod_info(make_pod("p"))
    assert info.requests == Requests(0, 0)
    assert info.non_zero == Requests(DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)


def test_host_ports_are_collected() -> None:
    assert make_pod_info(make_pod("p", host_port=8080)).host_ports == (("0.0.0.0", "TCP", 8080),)


def test_bad_quantity_counts_as_zero_instead_of_crashing() -> None:
    pod = make_pod("p")
    pod.spec.containers[0].resources.requests["cpu"] = "lots"
    assert make_pod_info(pod).requests.cpu == 0


def test_node_facts() -> None:
    facts = node_facts(make_node("n", cpu="2", memory="1Gi", pods="3"))
    assert (facts.cpu, facts.memory, facts.pods, facts.ready, facts.unschedulable) == (2000, 1024 ** 3, 3, True, False)
    assert not node_facts(make_node("n", ready=False)).ready
    assert node_facts(make_node("n", unschedulable=True)).unschedulable


def test_node_without_allocatable_falls_back_to_capacity_and_default_pods() -> None:
    node = Node.from_dict({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "1", "memory": "1Gi"}}})
    facts = node_facts(node)
    assert (facts.cpu, facts.memory, facts.pods, facts.ready) == (1000, 1024 ** 3, DEFAULT_MAX_PODS, False)
