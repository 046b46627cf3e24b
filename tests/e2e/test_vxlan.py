"""End to end: `kubelite up --pod-network vxlan` -- pods on two nodes reach each other and Services over the overlay.

A 2-node runc cluster whose kubelets connect the nodes' pods with the VXLAN
overlay instead of host-gw routes: each node has its VTEP (published on its
Node), the routes to the other node's podCIDR go through the VTEP, pods get the
overlay's smaller MTU, and a client pod on node-1 reaches a web pod on node-2 by
pod IP, ClusterIP and DNS name, including full-size packets. Teardown (`kubelite
down`) must leave nothing, as for every runc cluster.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.overlay.model import ANNOTATION_BACKEND, ANNOTATION_PUBLIC_IP, ANNOTATION_VTEP_MAC
from tests.e2e.cluster import LocalCluster, free_net_id, random_port_offset, runc_unavailable
from tests.e2e.conftest import bring_up, tear_down
from tests.e2e.svchelpers import apply, get_json, pod_exec, pod_running

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, VXLAN devices")]

MANIFESTS = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: node-2}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo web-on-node-2 > /www/index.html && head -c 4000000 /dev/zero > /www/big && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: node-1}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]}]
"""


@pytest.fixture(scope="module")
def vx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    data_dir = Path(tmp_path_factory.mktemp("vx"))
    offset = random_port_offset()
    c = LocalCluster(data_dir, nodes=2, port_offset=offset, runtime="runc", net_id=free_net_id(), kv_members=1,
                     pod_network="vxlan")
    bring_up(c)
    try:
        yield c
    finally:
        tear_down(c)


def in_node(c: LocalCluster, node: str, *argv: str) -> str:
    assert c.plan.network is not None
    ns = c.plan.network.node(node).netns
    return subprocess.run(["ip", "-n", ns, *argv], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pods(vx: LocalCluster) -> dict[str, dict[str, Any]]:
    apply(vx, MANIFESTS)
    return {name: pod_running(vx, name) for name in ("web", "client")}


def test_nodes_publish_their_vtep_and_route_pods_through_it(vx: LocalCluster, pods: dict[str, Any]) -> None:
    device = f"kl-vx{vx.net_id}"
    nodes = {n["metadata"]["name"]: n for n in get_json(vx, "nodes")["items"]}
    for name, node in nodes.items():
        ann = node["metadata"]["annotations"]
        internal = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        assert ann[ANNOTATION_BACKEND] == "vxlan" and ann[ANNOTATION_PUBLIC_IP] == internal
        assert ann[ANNOTATION_VTEP_MAC] in in_node(vx, name, "link", "show", device)
    peer_cidr = nodes["node-2"]["spec"]["podCIDR"]
    routes = in_node(vx, "node-1", "route")
    assert f"{peer_cidr} via {peer_cidr.partition('/')[0]} dev {device} proto 213 onlink" in routes, routes
    assert "proto 212" not in routes.replace("10.96.0.0/12 dev eth0 proto 212", ""), "host-gw pod routes present"
    fdb = subprocess.run(["bridge", "-n", vx.plan.network.node("node-1").netns if vx.plan.network else "",
                          "fdb", "show", "dev", device], capture_output=True, text=True).stdout
    assert nodes["node-2"]["metadata"]["annotations"][ANNOTATION_PUBLIC_IP] in fdb, fdb


def test_pods_reach_each_other_and_services_across_nodes(vx: LocalCluster, pods: dict[str, Any]) -> None:
    web_ip = pods["web"]["status"]["podIP"]
    assert pods["web"]["spec"]["nodeName"] != pods["client"]["spec"]["nodeName"]
    # (busybox `wget -T` segfaults: `timeout` bounds each request, as in svchelpers)
    out = pod_exec(vx, "client", 'timeout 5 wget -qO- "http://$1:8080/"; timeout 5 wget -qO- http://web/; '
                   "timeout 5 wget -qO- http://web.default.svc.cluster.local/", web_ip)
    assert out.split() == ["web-on-node-2"] * 3, out
    # Pods use the overlay's MTU (1500 - 50), so full-size segments fit the encapsulation both ways.
    mtu = pod_exec(vx, "client", "cat /sys/class/net/eth0/mtu")
    assert mtu.strip() == "1450"
    size = pod_exec(vx, "client", "timeout 20 wget -qO- http://web/big | wc -c")
    assert size.strip() == "4000000"
    assert " 0% packet loss" in pod_exec(vx, "client", f"ping -c 2 -W 2 -s 1422 {web_ip}")  # 1422+28 = 1450
