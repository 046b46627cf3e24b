"""Cluster add-ons of a local runc cluster: a Service proxy on every node and the cluster DNS.

Why here and not in `localcluster.py`: the plan there is "which daemons make a
cluster"; this module adds what makes Services work, the way a kubeadm cluster
gets kube-proxy (a DaemonSet) and CoreDNS (a Deployment behind the fixed
`kube-dns` Service) on top of the control plane.

- `kubelite proxy` runs in every node's network namespace beside the kubelet,
  so each node programs its own iptables NAT rules.
- `kubelite dns` runs once, on the host, on the bridge address (port 53). Pods
  reach it exactly as in Kubernetes: their resolv.conf names the fixed
  ClusterIP 10.96.0.10, and the Service `kube-system/kube-dns` (no selector)
  with a hand-written Endpoints object pointing at the host address makes the
  proxy DNAT that ClusterIP to the DNS daemon. The CNI masquerade rule (pod ->
  outside the cluster CIDR) lets the host answer without routes to the pods.
- `down` removes each node's proxy rules with `kubelite proxy --cleanup` in
  that node's namespace (deleting the namespace would drop them too, but the
  cleanup is the proxy's own contract and keeps working if a node survives).

The process runtime has no node namespaces: a proxy there would rewrite the
host's own iptables, so it gets no add-ons.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import grpc

from kubelite.localcluster import ClusterPlan, Component
from kubelite.netns import NetworkState
from kubelite.pki import cluster as pki


class AddonError(Exception):
    """An add-on could not be installed; the message says which and why."""


DNS_SERVICE_IP = "10.96.0.10"
DNS_PORT = 53
DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class Tuning:
    """Timing knobs of the control plane, passed through `kubelite up` (None: the daemon's default).

    Why: the node-failure e2e needs seconds, not Kubernetes' 40 s grace and 300 s
    toleration defaults.
    """

    node_monitor_grace_period: float | None = None
    node_monitor_period: float | None = None
    not_ready_toleration_seconds: int | None = None
    unreachable_toleration_seconds: int | None = None
    lb_pool: str | None = None  # addresses of LoadBalancer Services (None: a default inside the bridge subnet)
    horizontal_pod_autoscaler_sync_period: float | None = None  # the HPA e2e needs seconds, not 15

    def flags_for(self, component: str) -> list[str]:
        """Extra flags for one component (by its plan name)."""
        out: list[str] = []
        if component == "controller-manager":
            if self.node_monitor_grace_period is not None:
                out += ["--node-monitor-grace-period", f"{self.node_monitor_grace_period:g}"]
            if self.node_monitor_period is not None:
                out += ["--node-monitor-period", f"{self.node_monitor_period:g}"]
            if self.lb_pool:
                out += ["--lb-pool", self.lb_pool]
            if self.horizontal_pod_autoscaler_sync_period is not None:
                out += ["--horizontal-pod-autoscaler-sync-period", f"{self.horizontal_pod_autoscaler_sync_period:g}"]
        elif component.startswith("kubelet-") and self.node_monitor_grace_period is not None:
            out += ["--node-lease-duration-seconds", str(self.node_lease_duration())]
        elif component == "apiserver":
            if self.not_ready_toleration_seconds is not None:
                out += ["--default-not-ready-toleration-seconds", str(self.not_ready_toleration_seconds)]
            if self.unreachable_toleration_seconds is not None:
                out += ["--default-unreachable-toleration-seconds", str(self.unreachable_toleration_seconds)]
        return out

    def node_lease_duration(self) -> int:
        """A node Lease as long as the grace period (whole seconds, at least 1): its kubelet renews it
        every quarter of that, so a node is declared unknown only after several missed renewals, as with
        Kubernetes' defaults (40 s Lease, 10 s renewals, 40 s grace). None of the grace: the kubelet's default."""
        assert self.node_monitor_grace_period is not None
        return max(1, int(self.node_monitor_grace_period))

    def up_flags(self) -> list[str]:
        """The `kubelite up` flags that reproduce this tuning (for tests driving the CLI)."""
        out: list[str] = []
        for name, value in vars(self).items():
            if value is not None:
                out += ["--" + name.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
        return out


def _lb_pool(text: str) -> str:
    """argparse type of --lb-pool: checked at `kubelite up`, not first by the controller-manager."""
    from controllers.servicelb.pool import PoolError, parse_pool

    try:
        parse_pool(text)
    except PoolError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--lb-pool: ")) from None
    return text


def add_up_flags(p: argparse.ArgumentParser) -> None:
    """`kubelite up` flags for the control-plane timings (names as in `Tuning`, like Kubernetes' flags)."""
    p.add_argument("--node-monitor-grace-period", type=float, default=None, metavar="SECONDS",
                   help="controller-manager: a node whose Lease is this old turns Ready=Unknown (default 40)")
    p.add_argument("--node-monitor-period", type=float, default=None, metavar="SECONDS",
                   help="controller-manager: how often node health is checked (default 5)")
    p.add_argument("--not-ready-toleration-seconds", type=int, default=None, metavar="SECONDS",
                   help="apiserver: default toleration of pods for node.kubernetes.io/not-ready (default 30)")
    p.add_argument("--unreachable-toleration-seconds", type=int, default=None, metavar="SECONDS",
                   help="apiserver: default toleration of pods for node.kubernetes.io/unreachable (default 30)")
    p.add_argument("--lb-pool", default=None, metavar="CIDR", type=_lb_pool,
                   help="addresses for Services of type LoadBalancer (default: the last /28 of the node bridge "
                        "subnet, which no node uses)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=float, default=None, metavar="SECONDS",
                   help="controller-manager: how often each HorizontalPodAutoscaler is evaluated (default 15)")


def tuning_from_args(args: argparse.Namespace) -> Tuning:
    return Tuning(
        node_monitor_grace_period=args.node_monitor_grace_period, node_monitor_period=args.node_monitor_period,
        not_ready_toleration_seconds=args.not_ready_toleration_seconds,
        unreachable_toleration_seconds=args.unreachable_toleration_seconds, lb_pool=args.lb_pool,
        horizontal_pod_autoscaler_sync_period=args.horizontal_pod_autoscaler_sync_period,
    )


def proxy_health(port_offset: int) -> str:
    """Loopback of the node's network namespace the proxy runs in: plain HTTP stays off the network."""
    return f"127.0.0.1:{10256 + port_offset}"


def proxy_component(node: str, ip: str, server: str, port_offset: int, identity: list[str],
                    netns: str | None = None) -> Component:
    """A node's Service proxy; `identity`: its --cacert/--cert/--key (`up`: system:kube-proxy; a joined
    node: its own bootstrapped node certificate)."""
    health = proxy_health(port_offset)
    return Component(f"proxy-{node}", ["proxy", "--server", server, "--node-name", node, "--node-ip", ip,
                                       "--listen-health", health, "--cluster-cidr", CLUSTER_CIDR, "--announce-lb",
                                       *identity],
                     health, netns)


def node_config(plan: ClusterPlan, pod_network: str, tuning: Tuning | None = None) -> dict[str, str]:
    """What a node joining this cluster must run with to be like its own nodes (cluster-info's
    `kubelite.io/node-config`): the pod network, the cluster DNS and the image registry (none of which
    the process runtime has), and the node Lease's duration when the grace period is not the default."""
    lease: dict[str, str] = {}
    if tuning is not None and tuning.node_monitor_grace_period is not None:
        lease["nodeLeaseDurationSeconds"] = str(tuning.node_lease_duration())
    if plan.network is None:
        return lease
    config = {"podNetwork": pod_network, "netId": str(plan.network.net_id), "clusterDNS": DNS_SERVICE_IP,
              "clusterDomain": CLUSTER_DOMAIN, **lease}
    if plan.registry:
        config["registry"] = plan.registry
        config["registryTLS"] = "true" if plan.registry_tls else "false"
    return config


def ingress_health(port_offset: int) -> str:
    """Loopback of the node's namespace (like the proxy's); ends in 5, unused by the other components."""
    return f"127.0.0.1:{10255 + port_offset}"


def ingress_component(node: str, ip: str, plan: ClusterPlan, netns: str | None) -> Component:
    """A node's nginx ingress agent. Ports 80/443 need no offset: it listens on the node's own IP,
    which no other cluster on the host has."""
    health = ingress_health(plan.port_offset)
    return Component(f"ingress-{node}", ["ingress", "--server", plan.server, "--node-name", node, "--node-ip", ip,
                                         "--data-dir", str(plan.data_dir), "--listen-health", health,
                                         *pki.client_flags(plan.pki_dir, "ingress")], health, netns)


def dns_listen(network: NetworkState) -> str:
    return f"{network.host_ip}:{DNS_PORT}"


def dns_health(port_offset: int) -> str:
    """Ends in 4: no other local-cluster port (x0, x1, x3, x7, x8, x9) can meet it under another offset."""
    return f"127.0.0.1:{10054 + port_offset}"


def add_to_plan(plan: ClusterPlan, tuning: Tuning | None = None) -> None:
    """Apply `tuning` to the control plane and, for node namespaces, add the proxies and the DNS.

    Replaces `plan.components` (start order kept; the proxies and the DNS go
    last, with the kubelets, once the apiserver is up) and points every kubelet
    at the cluster DNS.
    """
    tuning = tuning or Tuning()
    if plan.network is not None and tuning.lb_pool is None:
        from controllers.servicelb.pool import default_pool
        tuning = replace(tuning, lb_pool=default_pool(plan.network.host_ip, plan.network.prefix_len))
    comps: list[Component] = []
    for comp in plan.components:
        extra = tuning.flags_for(comp.name)
        if extra:
            comp = replace(comp, argv=[*comp.argv, *extra])
        if plan.network is not None and comp.name.startswith("kubelet-"):
            comp = replace(comp, argv=[*comp.argv, "--cluster-dns", DNS_SERVICE_IP,
                                       "--cluster-domain", CLUSTER_DOMAIN])
        comps.append(comp)
    network = plan.network
    if network is not None:
        o = plan.port_offset
        for node in network.nodes:
            comps.append(proxy_component(node.name, node.ip, plan.server, o, pki.client_flags(plan.pki_dir, "proxy"),
                                         network.netns_path(node.name)))
            comps.append(ingress_component(node.name, node.ip, plan, network.netns_path(node.name)))
        comps.append(Component(
            "dns",
            ["dns", "--server", plan.server, "--listen", dns_listen(network),
             "--listen-health", dns_health(o), "--domain", CLUSTER_DOMAIN, *pki.client_flags(plan.pki_dir, "dns")],
            dns_health(o),
        ))
    plan.components = comps


def dns_objects(network: NetworkState) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `kube-dns` Service (fixed ClusterIP, no selector) and its Endpoints (the host daemon)."""
    meta = {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}}
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"clusterIP": DNS_SERVICE_IP, "type": "ClusterIP",
                 "ports": [{"name": n, "port": DNS_PORT, "protocol": p, "targetPort": DNS_PORT} for n, p in ports]},
    }
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": dict(meta),
        "subsets": [{"addresses": [{"ip": network.host_ip}],
                     "ports": [{"name": n, "port": DNS_PORT, "protocol": p} for n, p in ports]}],
    }
    return service, endpoints


def default_storage_class() -> dict[str, Any]:
    """k3s' `local-path` StorageClass, the default: a directory on the node the scheduler picks."""
    from kubelite.api.storage import DEFAULT_CLASS_ANNOTATION, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER

    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": LOCAL_PATH_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": False,
    }


def ingress_class() -> dict[str, Any]:
    """The default IngressClass `nginx`: Ingresses without a class are served by the nginx controller."""
    from kubelite.api.ingress import DEFAULT_CLASS_ANNOTATION, NGINX_CONTROLLER

    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "nginx", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "spec": {"controller": NGINX_CONTROLLER}}


async def install_dns_service(server: str, network: NetworkState, timeout: float = 30.0,
                              credentials: grpc.ChannelCredentials | None = None) -> None:
    """Create (or keep) `kube-system/kube-dns` and its Endpoints; retried until the apiserver answers."""
    service, endpoints = dns_objects(network)
    await ensure_objects(server, [("services", service), ("endpoints", endpoints)], timeout, credentials)


async def install_storage_class(server: str, timeout: float = 30.0,
                                credentials: grpc.ChannelCredentials | None = None) -> None:
    """Create (or keep) the default `local-path` StorageClass and `nginx` IngressClass (a user may delete
    or replace them later)."""
    await ensure_objects(server, [("storageclasses", default_storage_class()), ("ingressclasses", ingress_class())],
                         timeout, credentials)


async def ensure_objects(server: str, objs: list[tuple[str, dict[str, Any]]], timeout: float,
                         credentials: grpc.ChannelCredentials | None) -> None:
    """Create each (resource, object) unless it exists; retried until the apiserver answers or `timeout`."""
    from kubelite.api.errors import AlreadyExists, ApiError
    from kubelite.client import ApiClient

    deadline = time.monotonic() + timeout
    client = ApiClient.connect(server, credentials=credentials)
    try:
        for resource, obj in objs:
            meta = obj["metadata"]
            while True:
                try:
                    await client.create_raw(resource, obj, meta.get("namespace"))
                    break
                except AlreadyExists:
                    break
                except ApiError as exc:
                    if time.monotonic() > deadline:
                        where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
                        raise AddonError(f"cannot create {resource} {where}: {exc}") from None
                    await asyncio.sleep(0.2)
    finally:
        await client.close()


def cleanup_proxy_rules(network: NetworkState, timeout: float = 30.0) -> list[str]:
    """`kubelite proxy --cleanup` in every node namespace that still exists; returns problems."""
    from kubelite.netns import netns_exists, node_exec_prefix

    problems: list[str] = []
    for node in network.nodes:
        if not netns_exists(node.netns):
            continue
        argv = [*node_exec_prefix(network, node.name), sys.executable, "-m", "kubelite.main", "proxy", "--cleanup"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"proxy cleanup on {node.name}: {exc}")
            continue
        if proc.returncode != 0:
            problems.append(f"proxy cleanup on {node.name}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return problems
