"""End to end on a 3-node runc cluster: real isolated containers, pod networking across nodes.

One cluster for the whole module (`runc_cluster`); most pods are created at
once by the `workloads` fixture so their start-ups overlap, and each test then
waits for what it checks. Everything goes through `kctl`/`kubelite` and what a
user can observe; the last test runs `kubelite down` and checks the host is clean.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from kubelite import cleanup
from kubelite.procs import http_get_status
from tests.e2e.cluster import LocalCluster, leftovers, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

WORKLOADS = """
apiVersion: v1
kind: Pod
metadata: {name: iso}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo pid=$$$$; echo host=$(hostname); test -e /work || echo no-host-fs; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: duo}
spec:
  containers:
  - name: server
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-sidecar > /www/index.html && exec httpd -f -p 8080 -h /www"]
  - name: client
    image: busybox
    command: ["sh", "-c", "for i in $(seq 1 30); do timeout 5 wget -q -O - http://127.0.0.1:8080/ && break; sleep 1; done; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: web3, labels: {app: web3}}
spec:
  nodeSelector: {kubernetes.io/hostname: node-3}
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-node-3 > /www/index.html && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {name: hostport}
spec:
  nodeSelector: {kubernetes.io/hostname: node-2}
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-via-hostport > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
    - {containerPort: 80, hostPort: 18080}
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=5"]
    resources:
      limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: sick}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/never-there"]}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  greeting: bonjour
  color: blue
---
apiVersion: v1
kind: Pod
metadata: {name: configured}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo GREETING=$GREETING; echo color=$color; echo file=$(cat /etc/settings/greeting); sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    envFrom:
    - configMapRef: {name: settings}
    volumeMounts:
    - {name: cfg, mountPath: /etc/settings}
  volumes:
  - name: cfg
    configMap: {name: settings}
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo started-$(date +%s%N); i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done"]
"""


def get_json(c: LocalCluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(c.kctl_ok("get", *args, "-o", "json")))


def pod(c: LocalCluster, name: str) -> dict[str, Any]:
    return get_json(c, "pod", name)


def phase(c: LocalCluster, name: str) -> str:
    return str(pod(c, name).get("status", {}).get("phase", ""))


def container_status(p: dict[str, Any], container: str = "") -> dict[str, Any]:
    statuses = p.get("status", {}).get("containerStatuses", [])
    for st in statuses:
        if not container or st.get("name") == container:
            return dict(st)
    return {}


def running(c: LocalCluster, name: str, timeout: float = 90) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        p = pod(c, name)
        statuses = p.get("status", {}).get("containerStatuses", [])
        ok = p.get("status", {}).get("phase") == "Running" and statuses and all(
            "running" in s.get("state", {}) for s in statuses)
        return p if ok else None
    return wait_for(check, timeout, f"pod {name} to run (status: {describe_status(c, name)})")


def describe_status(c: LocalCluster, name: str) -> str:
    r = c.kctl("get", "pod", name, "-o", "json")
    if r.returncode != 0:
        return r.stderr.strip()
    return json.dumps(json.loads(r.stdout).get("status", {}))[:600]


def logs_contain(c: LocalCluster, name: str, text: str, container: str = "", timeout: float = 60) -> str:
    args = ["logs", name] + (["-c", container] if container else [])

    def check() -> str | None:
        out = c.kctl(*args).stdout
        return out if text in out else None
    return wait_for(check, timeout, f"{text!r} in the logs of {name}{'/' + container if container else ''}")


@pytest.fixture(scope="module")
def workloads(runc_cluster: LocalCluster) -> LocalCluster:
    out = runc_cluster.kctl_ok("apply", "-f", "-", input=WORKLOADS)
    assert "pod/iso created" in out and "configmap/settings created" in out
    return runc_cluster


def test_nodes_are_runc_nodes_with_pod_cidrs(runc_cluster: LocalCluster) -> None:
    nodes = get_json(runc_cluster, "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    cidrs = {n["spec"].get("podCIDR") for n in nodes}
    assert len(cidrs) == 3 and all(c and c.startswith("10.244.") and c.endswith("/24") for c in cidrs)
    for n in nodes:
        assert n["metadata"]["annotations"]["kubelite.io/container-runtime"] == "runc"
        ip = next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
        assert ip.startswith(f"10.88.{runc_cluster.net_id}.")


def test_container_sees_its_own_pid_1_hostname_and_filesystem(workloads: LocalCluster) -> None:
    p = running(workloads, "iso")
    out = logs_contain(workloads, "iso", "no-host-fs")
    assert "pid=1" in out and "host=iso" in out
    ip = p["status"].get("podIP", "")
    assert ip.startswith("10.244."), f"pod IP {ip!r} must come from the node's podCIDR"


def test_two_containers_of_a_pod_talk_over_localhost(workloads: LocalCluster) -> None:
    running(workloads, "duo")
    logs_contain(workloads, "duo", "hello-from-sidecar", container="client")


def test_pod_on_node_1_reaches_pod_on_node_3_by_pod_ip(workloads: LocalCluster) -> None:
    server = running(workloads, "web3")
    assert server["spec"]["nodeName"] == "node-3"
    ip = server["status"]["podIP"]
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: fetch1}}
spec:
  restartPolicy: Never
  nodeSelector: {{kubernetes.io/hostname: node-1}}
  containers:
  - name: wget
    image: busybox
    command: ["sh", "-c", "for i in $(seq 1 15); do timeout 3 wget -q -O - http://{ip}:8080/ && exit 0; sleep 1; done; exit 1"]
"""
    t0 = time.monotonic()
    workloads.kctl_ok("apply", "-f", "-", input=manifest)
    wait_for(lambda: phase(workloads, "fetch1") in ("Succeeded", "Failed"), 90, "fetch1 to finish")
    print(f"fetch1 done after {time.monotonic() - t0:.1f}s: {describe_status(workloads, 'fetch1')}")
    client = pod(workloads, "fetch1")
    assert client["spec"]["nodeName"] == "node-1"
    assert client["status"]["phase"] == "Succeeded", describe_status(workloads, "fetch1")
    assert "hello-from-node-3" in workloads.kctl_ok("logs", "fetch1")


def test_host_port_reaches_the_pod_through_the_node_ip(workloads: LocalCluster) -> None:
    p = running(workloads, "hostport")
    assert p["spec"]["nodeName"] == "node-2"
    assert workloads.plan.network is not None
    node_ip = workloads.plan.network.node("node-2").ip

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{node_ip}:18080/", timeout=3) as resp:
                return str(resp.read().decode())
        except OSError:
            return None
    assert "hello-via-hostport" in wait_for(fetch, 30, f"http://{node_ip}:18080/ to answer")


def test_memory_hog_is_oom_killed(workloads: LocalCluster) -> None:
    def terminated() -> dict[str, Any] | None:
        st = container_status(pod(workloads, "hog"))
        return st.get("state", {}).get("terminated") or st.get("lastState", {}).get("terminated")
    term = wait_for(terminated, 90, "the memory hog to be terminated")
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137, term
    assert "OOMKilled" in workloads.kctl_ok("get", "pod", "hog")


def test_failing_liveness_probe_restarts_the_container(workloads: LocalCluster) -> None:
    st = wait_for(lambda: (s := container_status(pod(workloads, "sick"))).get("restartCount", 0) >= 1 and s,
                  90, "the liveness probe to restart the container")
    assert st["restartCount"] >= 1
    events = workloads.kctl_ok("describe", "pod", "sick")
    assert "Liveness probe failed" in events or "Unhealthy" in events


def test_readiness_probe_gates_ready(workloads: LocalCluster) -> None:
    def ready(p: dict[str, Any]) -> str:
        return next((c["status"] for c in p.get("status", {}).get("conditions", []) if c["type"] == "Ready"), "")
    workloads.kctl_ok("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
""")
    # The test, not a timer in the container, decides when the probe can pass: under load a poll may
    # first see the pod Running long after any fixed delay.
    p = running(workloads, "slow", timeout=30)
    assert ready(p) == "False" and container_status(p).get("ready") is False, "running but not ready yet"
    workloads.kctl_ok("exec", "slow", "--", "touch", "/tmp/ready")
    wait_for(lambda: ready(pod(workloads, "slow")) == "True", 60, "slow to become Ready")
    assert container_status(pod(workloads, "slow"))["ready"] is True


def test_configmap_env_and_volume(workloads: LocalCluster) -> None:
    running(workloads, "configured")
    out = logs_contain(workloads, "configured", "file=")
    assert "GREETING=bonjour" in out and "color=blue" in out and "file=bonjour" in out


def test_kctl_exec(workloads: LocalCluster) -> None:
    running(workloads, "iso")
    r = workloads.kctl("exec", "iso", "--", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip() == "iso", r.stdout + r.stderr
    r = workloads.kctl("exec", "iso", "--", "sh", "-c", "echo to-stderr >&2; exit 3")
    assert r.returncode == 3 and "to-stderr" in r.stderr, (r.returncode, r.stdout, r.stderr)
    r = workloads.kctl("exec", "duo", "-c", "server", "--", "sh", "-c", "echo $$")
    assert r.returncode == 0 and r.stdout.strip() != "1", "exec runs beside PID 1, not as it"


def test_kctl_logs_follow(workloads: LocalCluster) -> None:
    running(workloads, "ticker")
    cmd = [sys.executable, "-m", "kubectl.main", "--server", workloads.server, "logs", "-f", "ticker"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workloads.env)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            ticks = [s for s in seen if s.startswith("tick-")]
            if len(ticks) >= 2 and ticks[-1] != ticks[0]:
                break
        ticks = [s for s in seen if s.startswith("tick-")]
        assert len(set(ticks)) >= 2, f"logs -f showed no new lines: {seen[-5:]}"
    finally:
        proc.kill()
        proc.wait()


def runc_pid(c: LocalCluster, container_id: str) -> int:
    cid = container_id.rpartition("://")[2]
    for root in cleanup.runc_roots(c.data_dir):
        for ct in cleanup.runc_list(root):
            if ct.id == cid and ct.status == "running":
                return ct.pid
    return 0


def test_kubelet_restart_keeps_containers_running(workloads: LocalCluster) -> None:
    before = running(workloads, "ticker")
    node = before["spec"]["nodeName"]
    st = container_status(before)
    pid = runc_pid(workloads, st["containerID"])
    assert pid, f"no running runc container behind {st['containerID']}"
    workloads.kill_component(f"kubelet-{node}")
    workloads.restart_component(f"kubelet-{node}")
    kubelet = next(c for c in workloads.plan.components if c.name == f"kubelet-{node}")
    t0 = time.monotonic()
    wait_for(lambda: asyncio.run(http_get_status(kubelet.health, "/readyz", netns=kubelet.netns)) == 200, 60,
             f"the kubelet of {node} to be ready")
    print(f"kubelet ready after {time.monotonic() - t0:.1f}s")
    # Give the new kubelet a few sync rounds, then nothing may have restarted.
    logs_contain(workloads, "ticker", "tick-", timeout=10)
    after = running(workloads, "ticker")
    st_after = container_status(after)
    assert st_after["containerID"] == st["containerID"] and st_after.get("restartCount", 0) == 0
    assert runc_pid(workloads, st["containerID"]) == pid
    assert workloads.kctl_ok("logs", "ticker").count("started-") == 1
    # The restarted kubelet still runs new pods on this node.
    workloads.kctl_ok("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: after-restart}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  containers: [{{name: main, image: busybox, command: ["sleep", "3600"]}}]
""")
    t0 = time.monotonic()
    running(workloads, "after-restart")
    print(f"new pod running after {time.monotonic() - t0:.1f}s")


def test_zz_kubelite_down_leaves_nothing_behind(runc_cluster: LocalCluster) -> None:
    down = runc_cluster.kubelite("down", "--data-dir", str(runc_cluster.data_dir), "--grace", "20")
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(runc_cluster) == []
