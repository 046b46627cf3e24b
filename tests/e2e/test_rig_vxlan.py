"""End to end on the rig: a control plane in machine 1, kubelets on machines 2 and 3, pods connected by the overlay.

The machines share no L2 segment and no files: each has its own subnet behind
a router namespace and its own /etc, /var/lib and /run. Machine 1 runs
`kubelite up --pod-network vxlan` (control plane plus node-1 in a namespace
behind its bridge); machines 2 and 3 run a kubelet and a proxy each, started
with today's flags and certificates copied in (the real `kubelite join` flow
replaces this later). Pods on all three machines then reach each other by IP
and a Service by ClusterIP and DNS name -- only possible through the VXLAN
overlay, since no machine is on-link with another.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.pki import cluster as pki
from tests.e2e.cluster import runc_unavailable, wait_for
from tests.rig.machines import Rig, in_use, leftovers, missing_tools
from tests.rig.plan import DATA_DIR, MAX_RIG_ID, plan_rig

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("network and mount namespaces, runc, VXLAN"),
              pytest.mark.skipif(missing_tools() != [], reason="needs iproute2, util-linux, procps")]

ROOT = Path(__file__).resolve().parents[2]
NET_ID = 9
CP_DIR = f"{DATA_DIR}/cp"
SERVER = f"10.88.{NET_ID}.1:6443"  # port offset 0: each machine has its own ports
REGISTRY = f"10.88.{NET_ID}.1:5000"
ENV = ["env", f"PYTHONPATH={ROOT}", f"KUBELITE_CONFIG={CP_DIR}/config", f"KUBELITE_CLUSTER_DIR={CP_DIR}"]

MANIFESTS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo $NODE > /www/index.html && exec httpd -f -p 8080 -h /www"]
        env:
        - name: NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


class RigCluster:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.daemons: list[subprocess.Popen[bytes]] = []

    def kctl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(self.rig.argv(1, *ENV, "python", "-m", "kubectl.main", "--server", SERVER, *args),
                              capture_output=True, text=True, input=input, timeout=90)
        if check:
            assert proc.returncode == 0, f"kctl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def host_path(self, machine: int, inside: str) -> Path:
        """Where a path under the machine's private /var/lib lives on the host (to copy files in)."""
        return self.rig.plan.machine(machine).private_dir("/var/lib") / inside.removeprefix("/var/lib/")

    def start_node(self, i: int) -> None:
        """A kubelet and a proxy on machine i, with certificates issued by machine 1's CA and copied in."""
        m = self.rig.plan.machine(i)
        name = m.name
        cp_pki = self.host_path(1, f"{CP_DIR}/pki")
        pki.ensure(cp_pki, pki.cluster_specs([f"10.88.{NET_ID}.1"], [("node-1", f"10.88.{NET_ID}.11"),
                                                                       (name, m.address)]))
        node_pki = Path(f"{DATA_DIR}/pki")
        dest = self.host_path(i, str(node_pki))
        dest.mkdir(parents=True, exist_ok=True)
        for cert in (pki.CLUSTER_CA, pki.kubelet_serving(name), pki.kubelet_client(name), "proxy"):
            for suffix in (".crt", ".key"):
                src = cp_pki / f"{cert}{suffix}"
                if src.exists() and not (cert == pki.CLUSTER_CA and suffix == ".key"):  # never the CA key
                    shutil.copy2(src, dest / src.name)
        env = [*ENV[:2], f"KUBELITE_CLUSTER_DIR={DATA_DIR}"]
        logs = self.host_path(i, f"{DATA_DIR}/logs")
        logs.mkdir(parents=True, exist_ok=True)
        kubelet = ["kubelet", "--server", SERVER, "--node-name", name, "--node-ip", m.address,
                   "--listen", f"{m.address}:10250", "--listen-health", f"{m.address}:10248",
                   "--data-dir", f"{DATA_DIR}/nodes/{name}", "--runtime", "runc", "--default-registry", REGISTRY,
                   "--pod-network", "vxlan", "--net-id", str(NET_ID), "--cluster-dns", "10.96.0.10",
                   *pki.kubelet_flags(node_pki, name)]
        proxy = ["proxy", "--server", SERVER, "--node-name", name, "--node-ip", m.address,
                 "--listen-health", f"{m.address}:10256", "--cluster-cidr", "10.244.0.0/16",
                 *pki.client_flags(node_pki, "proxy")]
        for argv, log in ((kubelet, "kubelet.log"), (proxy, "proxy.log")):
            with open(logs / log, "ab") as out:
                self.daemons.append(subprocess.Popen(
                    self.rig.argv(i, *env, "python", "-m", "kubelite.main", *argv),
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))

    def stop(self) -> None:
        """Stop the node daemons and their containers, then the control plane; nothing may be left."""
        for d in self.daemons:
            d.terminate()
        for d in self.daemons:
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        for i in (2, 3):
            self.rig.run(i, "env", f"PYTHONPATH={ROOT}", "python", "-c",
                         "from pathlib import Path; from kubelite import cleanup; "
                         f"cleanup.remove_runc_containers(Path({DATA_DIR!r})); "
                         f"print(cleanup.unmount_all(Path({DATA_DIR!r})))", check=False, timeout=120)
        self.rig.run(1, *ENV, "python", "-m", "kubelite.main", "down", "--data-dir", CP_DIR, check=False,
                     timeout=240)
        subprocess.run(["python", "-c", "from kubelite import cleanup; cleanup.remove_cgroups(['m2', 'm3'])"],
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False, timeout=60)


@pytest.fixture(scope="module")
def rc() -> Iterator[RigCluster]:
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    free = [i for i in range(1, MAX_RIG_ID + 1) if not in_use(plan_rig(i, 3))]
    if not free:
        pytest.skip("every rig id is in use")
    plan = plan_rig(free[os.getpid() % len(free)], 3)
    with Rig(plan) as rig:
        c = RigCluster(rig)
        try:
            for i in (1, 2, 3):
                rig.run(i, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            up = rig.run(1, *ENV, "python", "-m", "kubelite.main", "up", "--nodes", "1", "--runtime", "runc",
                         "--pod-network", "vxlan", "--net-id", str(NET_ID), "--kv-members", "1",
                         "--data-dir", CP_DIR, "--config-out", f"{CP_DIR}/config", check=False, timeout=300)
            assert up.returncode == 0, f"kubelite up in machine 1 failed:\n{up.stdout}\n{up.stderr}"
            # The node network of machine 1 is reached through machine 1; its node gets a way out.
            rig.run(1, "ip", "-n", f"kl{NET_ID}-node-1", "route", "add", "default", "via", f"10.88.{NET_ID}.1")
            subprocess.run(["ip", "-n", plan.router_netns, "route", "add", f"10.88.{NET_ID}.0/24", "via",
                            plan.machine(1).address], check=True)
            for i in (2, 3):
                c.start_node(i)
            yield c
        finally:
            c.stop()
    assert leftovers(plan) == []


def nodes_ready(c: RigCluster) -> dict[str, Any] | None:
    nodes = json.loads(c.kctl("get", "nodes", "-o", "json"))["items"]
    ready = {n["metadata"]["name"]: n for n in nodes
             if any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"]["conditions"])}
    return ready if len(ready) == 3 else None


def test_pods_on_three_machines_reach_each_other_and_a_service(rc: RigCluster) -> None:
    nodes = wait_for(lambda: nodes_ready(rc), 120, "node-1, m2 and m3 Ready")
    assert {n["metadata"]["annotations"]["kubelite.io/backend-type"] for n in nodes.values()} == {"vxlan"}
    rc.kctl("apply", "-f", "-", input=MANIFESTS)

    def running() -> dict[str, str] | None:
        pods = json.loads(rc.kctl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        up = {p["spec"]["nodeName"]: p for p in pods if p.get("status", {}).get("phase") == "Running"}
        return {n: p["status"]["podIP"] for n, p in up.items()} if len(up) == 3 else None

    ips = wait_for(running, 180, "a web pod Running on each machine")
    pods = {p["spec"]["nodeName"]: p["metadata"]["name"]
            for p in json.loads(rc.kctl("get", "pods", "-l", "app=web", "-o", "json"))["items"]}
    t0 = time.monotonic()
    for src in ("m2", "m3", "node-1"):
        script = "; ".join(f"timeout 5 wget -qO- http://{ip}:8080/" for ip in ips.values())
        script += "; for i in 1 2 3 4 5 6; do timeout 5 wget -qO- http://web.default.svc.cluster.local/; done"
        out = rc.kctl("exec", pods[src], "--", "sh", "-c", script)
        lines = out.split()
        assert lines[:3] == list(ips), f"from {src}: {out}"
        assert len(lines) == 9 and set(lines[3:]) <= set(ips), f"from {src} via the Service: {out}"
    print(f"cross-machine checks took {time.monotonic() - t0:.1f}s; pod IPs {ips}")
