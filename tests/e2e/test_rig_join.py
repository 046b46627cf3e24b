"""End to end on the rig: `kubelite init` on machine 1, the printed `kubelite join` on machines 2 and 3.

The machines share no L2 segment and no files (each its own subnet behind a
router namespace, its own /etc, /var/lib, /run and host name), so the joined
nodes work only from what they receive over the network: cluster-info (CA
pinned by hash, signed with the token, carrying the pod network, cluster DNS
and registry the control plane chose), their own certificates through CSRs,
images from the cluster registry, pods connected by the VXLAN overlay. The
only network set-up outside kubelite is the router's route to machine 1's
node bridge (a site's router would have it), made with the rig's helper.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.api import Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api.timeutil import utcnow
from tests.e2e.cluster import runc_unavailable, wait_for
from tests.rig.machines import Rig, in_use, leftovers, missing_tools
from tests.rig.plan import DATA_DIR, MAX_RIG_ID, plan_rig

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("network, mount and UTS namespaces, runc, VXLAN"),
              pytest.mark.skipif(missing_tools() != [], reason="needs iproute2, util-linux, procps")]

ROOT = Path(__file__).resolve().parents[2]
NET_ID = 9
CP_DIR = f"{DATA_DIR}/cp"
NODE_DIR = "/var/lib/kubelite-node"  # `kubelite join`'s default data directory (root)
# KUBECONFIG: init merges its context there; /root is the host's in every machine, /var/lib is private
PY = ["env", f"PYTHONPATH={ROOT}", f"KUBECONFIG={CP_DIR}/kubeconfig", "python"]
GRACE = 8  # --node-monitor-grace-period
TOLERATION = 5  # --not-ready/unreachable-toleration-seconds

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
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
"""


class RigCluster:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.join_args: list[str] = []
        self.timings: dict[str, float] = {}

    def kubelite(self, machine: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self.rig.run(machine, *PY, "-m", "kubelite.main", *args, check=False, timeout=timeout)

    def kctl_run(self, *args: str, input: str | None = None, machine: int = 1,
                 config: str = f"{CP_DIR}/config") -> subprocess.CompletedProcess[str]:
        argv = self.rig.argv(machine, *PY[:-1], f"KUBELITE_CONFIG={config}", "python", "-m", "kubectl.main", *args)
        return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=90)

    def kctl(self, *args: str, input: str | None = None) -> str:
        proc = self.kctl_run(*args, input=input)
        assert proc.returncode == 0, f"kctl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def join(self, machine: int) -> None:
        t0 = time.monotonic()
        joined = self.kubelite(machine, *self.join_args, timeout=200)
        assert joined.returncode == 0, f"join on m{machine} failed:\n{joined.stdout}\n{joined.stderr}"
        self.timings[f"join m{machine}"] = time.monotonic() - t0

    def json(self, *args: str) -> Any:
        return json.loads(self.kctl(*args, "-o", "json"))

    def stop(self) -> None:
        for i in (2, 3):
            self.kubelite(i, "leave", "--timeout", "30", timeout=120)
        self.kubelite(1, "down", "--data-dir", CP_DIR, timeout=240)


def ready_nodes(c: RigCluster) -> set[str]:
    return {n["metadata"]["name"] for n in c.json("get", "nodes")["items"]
            if any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"].get("conditions") or [])}


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
            t0 = time.monotonic()
            init = c.kubelite(1, "init", "--advertise-address", plan.machine(1).address, "--runtime", "runc",
                              "--net-id", str(NET_ID), "--kv-members", "1", "--data-dir", CP_DIR,
                              "--config-out", f"{CP_DIR}/config", "--node-monitor-grace-period", str(GRACE),
                              "--node-monitor-period", "2", "--not-ready-toleration-seconds", str(TOLERATION),
                              "--unreachable-toleration-seconds", str(TOLERATION), timeout=300)
            assert init.returncode == 0, f"kubelite init in machine 1 failed:\n{init.stdout}\n{init.stderr}"
            c.timings["init"] = time.monotonic() - t0
            line = next(x.strip() for x in init.stdout.splitlines() if x.strip().startswith("kubelite join "))
            c.join_args = shlex.split(line)[1:]
            # machine 1's node lives behind its bridge: the site's router routes that subnet to machine 1
            rig.route_via(1, f"10.88.{NET_ID}.0/24")
            for i in (2, 3):
                c.join(i)
            wait_for(lambda: ready_nodes(c) == {"node-1", "m2", "m3"} or None, 60, "three Ready nodes")
            c.timings["all Ready"] = time.monotonic() - t0
            print(f"timings: {c.timings}")
            yield c
        finally:
            c.stop()
    assert leftovers(plan) == []


def web_pods(c: RigCluster) -> dict[str, dict[str, Any]] | None:
    pods = c.json("get", "pods", "-l", "app=web")["items"]
    up = {p["spec"]["nodeName"]: p for p in pods if p.get("status", {}).get("phase") == "Running"}
    return up if len(up) == 3 else None


def test_joined_kubelets_run_with_the_configuration_from_cluster_info(rc: RigCluster) -> None:
    status = rc.kubelite(1, "status", "--data-dir", CP_DIR)
    assert status.returncode == 0 and "registry" in status.stdout, status.stdout  # its TLS registry answers
    for i in (2, 3):
        kubelet = next(line for line in cmdlines(rc, i) if " kubelet " in line)
        for flag in ("--pod-network vxlan", f"--net-id {NET_ID}", "--cluster-dns 10.96.0.10",
                     f"--default-registry {rc.rig.plan.machine(1).address}:5000", "--registry-ca-file"):
            assert flag in kubelet, f"m{i} kubelet lacks {flag}: {kubelet}"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(bytes(1), b" ").decode()
    except OSError:
        return ""  # gone meanwhile


def cmdlines(rc: RigCluster, machine: int) -> list[str]:
    return [cmdline(pid) for pid in rc.rig.pids_inside(machine)]


def test_pods_on_three_machines_reach_each_other_services_and_nodeports(rc: RigCluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in rc.json("get", "nodes")["items"]}
    assert {n["metadata"]["annotations"]["kubelite.io/backend-type"] for n in nodes.values()} == {"vxlan"}
    rc.kctl("apply", "-f", "-", input=MANIFESTS)
    pods = wait_for(lambda: web_pods(rc), 180, "a web pod Running on each machine")
    ips = {n: p["status"]["podIP"] for n, p in pods.items()}
    for src in ("m2", "m3", "node-1"):
        script = "; ".join(f"timeout 5 wget -qO- http://{ip}:8080/" for ip in ips.values())
        script += "; for i in 1 2 3 4 5 6; do timeout 5 wget -qO- http://web.default.svc.cluster.local/; done"
        out = rc.kctl("exec", pods[src]["metadata"]["name"], "--", "sh", "-c", script)
        lines = out.split()
        assert lines[:3] == list(ips), f"from {src}: {out}"
        assert len(lines) == 9 and set(lines[3:]) <= set(ips), f"from {src} via the Service: {out}"
    # the NodePort on every machine's address and every Node's, from another machine
    addresses = {f"m{i}": rc.rig.plan.machine(i).address for i in (1, 2, 3)}
    addresses.update({name: next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
                      for name, node in nodes.items()})
    for name, address in addresses.items():
        client = 2 if name in ("m1", "node-1") else 1
        got = rc.rig.run(client, "python", "-c", "import sys, urllib.request; "
                         f"sys.stdout.write(urllib.request.urlopen('http://{address}:30080/', timeout=5).read().decode())",
                         check=False)
        assert got.returncode == 0 and got.stdout.strip() in ips, f"NodePort on {name} ({address}): {got}"


def _join_refused(rc: RigCluster, args: list[str]) -> str:
    joined = rc.kubelite(3, *args, "--node-name", "never", "--data-dir", "/var/lib/kl-refused", timeout=60)
    assert joined.returncode == 1 and "Traceback" not in joined.stderr, joined.stderr
    assert rc.rig.run(3, "test", "-e", "/var/lib/kl-refused", check=False).returncode == 1  # nothing written
    return joined.stderr


def with_flag(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def test_join_refuses_a_wrong_ca_hash_an_expired_token_and_another_clusters_token(rc: RigCluster) -> None:
    err = _join_refused(rc, with_flag(rc.join_args, "--discovery-token-ca-cert-hash", "sha256:" + "0" * 64))
    assert "is not one of the pinned hashes" in err, err
    err = _join_refused(rc, with_flag(rc.join_args, "--token", bt.generate()))
    assert "invalid for this cluster or it has expired" in err, err
    created = rc.kubelite(1, "token", "create", "--ttl", "2s", "--data-dir", CP_DIR)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()

    def expired() -> bool:
        got = rc.kctl_run("get", "secret", "-n", "kube-system", f"bootstrap-token-{token.partition('.')[0]}",
                          "-o", "json")
        if got.returncode != 0:
            return "NotFound" in got.stderr  # the token cleaner removed it already
        stored = bt.from_secret(Secret.from_dict(json.loads(got.stdout)))
        return stored is None or stored.expired(utcnow())

    wait_for(expired, 30, "the 2s token to expire")
    err = _join_refused(rc, with_flag(rc.join_args, "--token", token))
    assert "invalid for this cluster or it has expired" in err, err


def test_a_node_cannot_read_other_nodes_secrets_nor_change_other_nodes(rc: RigCluster) -> None:
    rc.kctl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "m3-only"}, "stringData": {"k": "v"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "uses-m3-only"},
         "spec": {"nodeName": "m3", "terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "600"],
                                  "volumeMounts": [{"name": "s", "mountPath": "/s"}]}],
                  "volumes": [{"name": "s", "secret": {"secretName": "m3-only"}}]}}]}))
    configs = {}
    for i in (2, 3):  # each node's own identity, from its own data directory
        path = f"{NODE_DIR}/probe.yaml"
        config = {"current-context": "n", "contexts": {"n": {
            "server": rc.join_args[1].removeprefix("https://").rpartition(":")[0] + ":6443",
            "certificate-authority": f"{NODE_DIR}/pki/ca.crt",
            "client-certificate": f"{NODE_DIR}/pki/kubelet-client.crt",
            "client-key": f"{NODE_DIR}/pki/kubelet-client.key"}}}
        subprocess.run(rc.rig.argv(i, "sh", "-c", f"cat > {path}"), input=json.dumps(config), text=True, check=True)
        configs[i] = path
    own = wait_for(lambda: rc.kctl_run("get", "secret", "m3-only", machine=3, config=configs[3]).returncode == 0
                   or None, 60, "m3 reading the Secret of its own pod")
    assert own
    other = rc.kctl_run("get", "secret", "m3-only", machine=2, config=configs[2])
    assert other.returncode != 0 and "Forbidden" in other.stderr, other
    change = rc.kctl_run("cordon", "m3", machine=2, config=configs[2])
    assert change.returncode != 0 and "Forbidden" in change.stderr, change
    mine = rc.kctl_run("cordon", "m2", machine=2, config=configs[2])  # its own Node it may change
    assert mine.returncode == 0, mine
    assert rc.kctl_run("uncordon", "m2", machine=2, config=configs[2]).returncode == 0
    rc.kctl("delete", "pod", "uses-m3-only")
    rc.kctl("delete", "secret", "m3-only")


MOVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mover}
spec:
  replicas: 2
  selector: {matchLabels: {app: mover}}
  template:
    metadata: {labels: {app: mover}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: ["sleep", "3600"]}
"""


def mover_pods(rc: RigCluster) -> list[dict[str, Any]]:
    return list(rc.json("get", "pods", "-l", "app=mover")["items"])


def until(pred: Callable[[list[dict[str, Any]]], bool], rc: RigCluster) -> Callable[[], bool]:
    return lambda: pred(mover_pods(rc))


def test_a_machine_cut_off_goes_not_ready_its_pods_move_and_it_comes_back(rc: RigCluster) -> None:
    for node in ("node-1", "m2"):  # the Deployment's pods start on m3
        rc.kctl("cordon", node)
    try:
        rc.kctl("apply", "-f", "-", input=MOVER)
        wait_for(until(lambda ps: len(ps) == 2 and all(p["status"].get("phase") == "Running"
                                                       and p["spec"].get("nodeName") == "m3" for p in ps), rc),
                 120, "two mover pods Running on m3")
    finally:
        for node in ("node-1", "m2"):
            rc.kctl("uncordon", node)
    try:
        t0 = time.monotonic()
        rc.rig.cut(3)
        try:
            wait_for(lambda: "m3" not in ready_nodes(rc) or None, GRACE + 20, "m3 NotReady")
            not_ready = time.monotonic() - t0

            def moved(ps: list[dict[str, Any]]) -> bool:
                live = [p for p in ps if not p["metadata"].get("deletionTimestamp")]
                return len(live) == 2 and all(p["spec"].get("nodeName") not in (None, "m3")
                                              and p["status"].get("phase") == "Running" for p in live)

            wait_for(until(moved, rc), GRACE + TOLERATION + 60, "mover pods Running elsewhere")
            print(f"m3 NotReady after {not_ready:.1f}s, pods moved after {time.monotonic() - t0:.1f}s "
                  f"(grace {GRACE}s + toleration {TOLERATION}s)")
        finally:
            rc.rig.heal(3)
        wait_for(lambda: "m3" in ready_nodes(rc) or None, 90, "m3 Ready again")
        # the old pods' deletion completes once m3's kubelet is back: exactly the two replicas remain
        wait_for(until(lambda ps: len(ps) == 2 and all(p["spec"]["nodeName"] != "m3" for p in ps), rc),
                 90, "no duplicate mover pods")
    finally:
        rc.kctl("delete", "deployment", "mover")


LEFT_CHECK = f"""
grep -F ' {NODE_DIR}' /proc/self/mountinfo && echo MOUNTS
ls /run/netns 2>/dev/null | grep . && echo NETNS
ip -o link show | grep -Ev ': (lo|eth0)[:@]' && echo LINKS
test -e {NODE_DIR} && echo DATADIR
iptables-save | grep -E 'KUBE|kubelite|CNI-' && echo IPTABLES
true
"""


def containers_on(rc: RigCluster, node: str) -> set[str]:
    return {c["containerID"].rpartition("://")[2] for p in rc.json("get", "pods", "-A")["items"]
            if p["spec"].get("nodeName") == node for c in p.get("status", {}).get("containerStatuses") or []
            if c.get("containerID")}


def processes_of(rc: RigCluster, machine: int, containers: set[str]) -> list[str]:
    """Processes in the machine's network namespace or in the cgroup of one of `containers`."""
    pids = set(rc.rig.pids_inside(machine))
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and any(cid in (entry / "cgroup").read_text() for cid in containers):
                pids.add(int(entry.name))
        except OSError:
            continue
    return [f"{pid} {cmdline(pid)}" for pid in sorted(pids) if cmdline(pid)]


def test_leave_leaves_nothing_on_the_machine_and_it_can_join_again(rc: RigCluster) -> None:
    wait_for(lambda: "m2" in ready_nodes(rc) or None, 60, "m2 Ready")
    containers = containers_on(rc, "m2")
    left = rc.kubelite(2, "leave", timeout=180)
    assert left.returncode == 0, f"{left.stdout}\n{left.stderr}"
    assert "node m2 deleted" in left.stdout, left.stdout
    found = rc.rig.run(2, "sh", "-c", LEFT_CHECK, check=False)
    assert found.stdout.strip() == "", f"left on machine 2 after leave:\n{found.stdout}"
    assert processes_of(rc, 2, containers) == []
    assert rc.kctl_run("get", "node", "m2").returncode == 1
    rc.join(2)  # the same printed command joins it again
    wait_for(lambda: "m2" in ready_nodes(rc) or None, 60, "m2 Ready after joining again")
