"""The resource metrics API: NodeMetrics/PodMetrics built from kubelet Stats, discovery and authorization."""

from __future__ import annotations

from apiserver import metricsapi
from apiserver.authn import UserInfo
from apiserver.grpc_access import attributes
from apiserver.http import discovery
from apiserver.http.routing import request_info
from kubelite.pb.kubelite import api_pb2


def usage(mc: float | None, ws: int) -> api_pb2.Usage:
    u = api_pb2.Usage(cpu_seconds=12.5, memory_working_set_bytes=ws, cpu_window_seconds=10.0)
    if mc is not None:
        u.cpu_millicores = mc
    return u


def test_node_metrics_carry_rate_and_working_set() -> None:
    stats = api_pb2.StatsResponse(time=1_700_000_000.0, node=api_pb2.NodeStats(name="n1", usage=usage(250.0, 4 * 1024)))
    m = metricsapi.node_metrics({"metadata": {"name": "n1", "labels": {"a": "b"}}}, stats)
    assert m is not None
    assert m["kind"] == "NodeMetrics" and m["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert m["usage"] == {"cpu": "250000000n", "memory": "4Ki"}
    assert m["window"] == "10.000s" and m["timestamp"].startswith("2023-11-14T")
    assert m["metadata"]["labels"] == {"a": "b"}


def test_no_rate_yet_means_no_metrics() -> None:
    stats = api_pb2.StatsResponse(node=api_pb2.NodeStats(usage=usage(None, 1)))
    assert metricsapi.node_metrics({"metadata": {"name": "n"}}, stats) is None
    pod = api_pb2.PodStats(containers=[api_pb2.ContainerStats(name="a", usage=usage(5.0, 1)),
                                       api_pb2.ContainerStats(name="b", usage=usage(None, 1))])
    assert metricsapi.pod_metrics({"metadata": {"name": "p"}}, pod, 0.0) is None  # partial would under-report


def test_pod_metrics_list_each_container() -> None:
    pod = api_pb2.PodStats(containers=[api_pb2.ContainerStats(name="a", usage=usage(100.5, 1000))])
    m = metricsapi.pod_metrics({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}}}, pod, 0.0)
    assert m is not None
    assert m["metadata"]["namespace"] == "ns"
    assert m["containers"] == [{"name": "a", "usage": {"cpu": "100500000n", "memory": "1000"}}]


def test_discovery_lists_the_metrics_group() -> None:
    assert "metrics.k8s.io/v1beta1" in discovery.all_group_versions()
    doc = discovery.resource_list("metrics.k8s.io/v1beta1", lambda _: False)
    assert doc is not None
    entries = {r["name"]: r for r in doc["resources"]}
    assert entries["pods"]["kind"] == "PodMetrics" and entries["pods"]["namespaced"] is True
    assert entries["nodes"]["namespaced"] is False and entries["nodes"]["verbs"] == ["get", "list"]
    agg = discovery.aggregated(False, lambda _: False)
    [group] = [i for i in agg["items"] if i["metadata"].get("name") == "metrics.k8s.io"]
    scopes = {r["resource"]: r["scope"] for r in group["versions"][0]["resources"]}
    assert scopes == {"nodes": "Cluster", "pods": "Namespaced"}


def test_requests_are_authorized_as_metrics_group_reads() -> None:
    info = request_info("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods", {})
    assert (info.verb, info.api_group, info.resource, info.namespace) == ("list", "metrics.k8s.io", "pods", "ns")
    user = UserInfo("alice", ())
    a = attributes("List", api_pb2.ListRequest(resource="pods.metrics.k8s.io", namespace="ns"), user)
    assert (a.verb, a.api_group, a.resource, a.namespace) == ("list", "metrics.k8s.io", "pods", "ns")
    n = attributes("Get", api_pb2.GetRequest(resource="nodes.metrics.k8s.io", name="n1", namespace="x"), user)
    assert (n.verb, n.api_group, n.resource, n.namespace, n.name) == ("get", "metrics.k8s.io", "nodes", "", "n1")
