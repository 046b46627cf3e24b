"""The resource metrics API (`metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics), served by the apiserver.

Where the metrics server lives, and why: inside the apiserver, answering each request
by asking the kubelets concerned for their `Stats` at that moment. The apiserver
already has what a separate metrics server would need -- the node addresses, the
`apiserver-kubelet-client` identity the kubelets accept, a channel per kubelet -- and
serving the API here needs no APIService aggregation, no second certificate and no
snapshot store that could go stale or disagree between apiservers. The kubelet
samples its cgroups every 10 s (kubelet/stats.py), so each answer carries a CPU rate
over a recent window, which is what a scraping metrics server would have computed.
Costs are paid only while someone asks (`kctl top`, the HPA every 15 s): an idle
cluster does no metrics work beyond the kubelets' own sampling.

A node whose kubelet does not answer, or a pod with no rate yet, is left out of a
list, as metrics-server leaves out what it has no sample for; asked for by name, it
is NotFound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from apiserver.options import ListOptions
from kubelite.api.core import Node
from kubelite.api.errors import ApiError, NotFound
from kubelite.api.timeutil import format_unix, now
from kubelite.pb.kubelite import api_pb2

if TYPE_CHECKING:
    from apiserver.logs import KubeletLogs
    from apiserver.service import ResourceService

log = logging.getLogger(__name__)

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
VERBS = ["get", "list"]
# resource -> (kind, namespaced), for discovery and dispatch
RESOURCES = {"nodes": ("NodeMetrics", False), "pods": ("PodMetrics", True)}
SCRAPE_TIMEOUT = 5.0
# gRPC `resource` names (Get/List) -> the resource in this group
GRPC_RESOURCES = {f"{r}.{GROUP}": r for r in RESOURCES}


def cpu_quantity(millicores: float) -> str:
    """CPU in nanocores, as metrics-server writes it (kubectl rounds it for display)."""
    return f"{max(0, round(millicores * 1_000_000))}n"


def memory_quantity(nbytes: int) -> str:
    return f"{nbytes // 1024}Ki" if nbytes % 1024 == 0 else str(nbytes)


def _usage(usage: api_pb2.Usage) -> dict[str, str] | None:
    if not usage.HasField("cpu_millicores"):
        return None
    return {"cpu": cpu_quantity(usage.cpu_millicores), "memory": memory_quantity(usage.memory_working_set_bytes)}


def _window(usage: api_pb2.Usage) -> str:
    return f"{usage.cpu_window_seconds:.3f}s"


def node_metrics(node: dict[str, Any], stats: api_pb2.StatsResponse) -> dict[str, Any] | None:
    """NodeMetrics of `node` from its kubelet's sample; None while the kubelet has no CPU rate yet."""
    usage = _usage(stats.node.usage)
    if usage is None:
        return None
    meta = node.get("metadata", {})
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": meta.get("name", ""), "creationTimestamp": now(), "labels": meta.get("labels", {})},
            "timestamp": format_unix(stats.time), "window": _window(stats.node.usage), "usage": usage}


def pod_metrics(pod: dict[str, Any], stats: api_pb2.PodStats, when: float) -> dict[str, Any] | None:
    """PodMetrics of `pod`; None when it has no running container with a CPU rate yet."""
    containers = []
    window = ""
    for c in stats.containers:
        usage = _usage(c.usage)
        if usage is None:
            return None  # a partial pod would under-report it to the HPA
        containers.append({"name": c.name, "usage": usage})
        window = window or _window(c.usage)
    if not containers:
        return None
    meta = pod.get("metadata", {})
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                         "creationTimestamp": now(), "labels": meta.get("labels", {})},
            "timestamp": format_unix(when), "window": window, "containers": containers}


def _not_found(what: str, name: str) -> NotFound:
    return NotFound(f'{what}.{GROUP} "{name}" not found', name=name, kind=what)


def as_list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


class ResourceMetrics:
    """Answers NodeMetrics/PodMetrics gets and lists from the kubelets' Stats."""

    def __init__(self, service: ResourceService, kubelets: KubeletLogs) -> None:
        self.service = service
        self.kubelets = kubelets

    async def _objects(self, resource: str, namespace: str, name: str, options: ListOptions) -> list[dict[str, Any]]:
        if name:
            return [json.loads(await self.service.get(resource, namespace, name))]
        listed = await self.service.list(resource, namespace, options)
        return [json.loads(raw) for raw in listed.items]

    async def _scrape(self, node_names: Iterable[str]) -> dict[str, api_pb2.StatsResponse]:
        """Stats of each named node's kubelet; nodes that cannot be asked are left out (and logged)."""
        names = sorted(set(node_names))

        async def one(node_name: str) -> api_pb2.StatsResponse | None:
            try:
                node = Node.from_dict(json.loads(await self.service.get("nodes", "", node_name)))
                ip, port = node.internal_ip(), node.kubelet_port()
                if not ip or not port:
                    return None
                return await self.kubelets.stats(f"{ip}:{port}", SCRAPE_TIMEOUT)
            except ApiError as err:
                log.warning("cannot read kubelet stats", extra={"node": node_name, "error": err.message})
                return None

        results = await asyncio.gather(*(one(n) for n in names))
        return {n: r for n, r in zip(names, results, strict=True) if r is not None}

    async def nodes(self, name: str, options: ListOptions) -> list[dict[str, Any]]:
        try:
            nodes = await self._objects("nodes", "", name, options)
        except NotFound:
            raise _not_found("nodemetrics", name) from None
        stats = await self._scrape(n["metadata"]["name"] for n in nodes)
        out = []
        for node in nodes:
            sample = stats.get(node["metadata"]["name"])
            found = node_metrics(node, sample) if sample is not None else None
            if found is not None:
                out.append(found)
        if name and not out:
            raise _not_found("nodemetrics", name)
        return out

    async def pods(self, namespace: str, name: str, options: ListOptions) -> list[dict[str, Any]]:
        try:
            pods = await self._objects("pods", namespace, name, options)
        except NotFound:
            raise _not_found("podmetrics", name) from None
        pods = [p for p in pods if p.get("spec", {}).get("nodeName")]
        stats = await self._scrape(p["spec"]["nodeName"] for p in pods)
        by_uid = {ps.uid: (ps, s.time) for s in stats.values() for ps in s.pods}
        out = []
        for pod in pods:
            entry = by_uid.get(pod["metadata"].get("uid", ""))
            found = pod_metrics(pod, *entry) if entry is not None else None
            if found is not None:
                out.append(found)
        if name and not out:
            raise _not_found("podmetrics", name)
        return out

    async def answer(self, resource: str, namespace: str, name: str, options: ListOptions) -> dict[str, Any]:
        """The JSON answer to a get (`name`) or a list of `resource` ("nodes" or "pods")."""
        kind, namespaced = RESOURCES[resource]
        items = await (self.pods(namespace, name, options) if namespaced else self.nodes(name, options))
        return items[0] if name else as_list(kind, items)
