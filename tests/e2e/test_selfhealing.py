"""End to end: kubelite keeps declared state true through change and failure (issue 6).

One 3-node runc cluster for the module, brought up with e2e timings
(`--node-monitor-grace-period 10 --unreachable-toleration-seconds 10`, ...).
A client pod on node-1 loops requests through a Service while Deployments
roll forward and back; node-3 loses its kubelet and containers; a
StatefulSet, a DaemonSet (and a node added later), a Job and the garbage
collector are checked by what a user sees in the API and from pods.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite import cleanup
from kubelite.addons import Tuning
from tests.e2e.cluster import LocalCluster, free_net_id, random_port_offset, runc_unavailable, wait_for
from tests.e2e.conftest import bring_up, tear_down
from tests.e2e.svchelpers import (
    RequestLoop,
    Sampler,
    apply,
    get_json,
    is_ready,
    items,
    live,
    now,
    pod_exec,
    pod_running,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

def app_yaml(version: str, name: str = "app", replicas: int = 6) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo {version}:$POD > /www/index.html && exec httpd -f -p 8080 -h /www"]
        env:
        - name: POD
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
        resources:
          requests: {{cpu: 50m, memory: 16Mi}}
"""


BASE = """
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
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

APP_URL = "http://app/"


@pytest.fixture(scope="module")
def healing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    data_dir = Path(tmp_path_factory.mktemp("sh"))
    offset = random_port_offset()
    tuning = Tuning(node_monitor_grace_period=10, node_monitor_period=1,
                    not_ready_toleration_seconds=10, unreachable_toleration_seconds=10)
    c = LocalCluster(data_dir, nodes=3, port_offset=offset, runtime="runc", net_id=free_net_id(), tuning=tuning)
    bring_up(c)
    try:
        apply(c, BASE + "---\n" + app_yaml("v1"))
        yield c
    finally:
        tear_down(c)


def versions(pods: list[dict[str, Any]]) -> set[str]:
    return {m.group(1) for p in pods for m in [re.search(r"echo (v\d+):", " ".join(
        p["spec"]["containers"][0]["command"]))] if m}


def rolled_out(c: LocalCluster, version: str | None, name: str = "app", namespace: str = "default",
               replicas: int = 6) -> list[dict[str, Any]]:
    """`replicas` ready pods of `version` (None: of any one version) and a Deployment status that agrees."""
    def check(pods: list[dict[str, Any]]) -> bool:
        st = get_json(c, "deploy", name, "-n", namespace).get("status", {})
        seen = versions(pods)
        return (seen == {version} if version else len(seen) == 1) and all(
            st.get(k) == replicas for k in ("updatedReplicas", "readyReplicas", "availableReplicas", "replicas"))
    return wait_ready(c, f"app={name}", replicas, timeout=120, namespace=namespace, check=check)


def roll(c: LocalCluster, change: list[str], version: str, name: str = "app", namespace: str = "default",
         replicas: int = 6, url: str = APP_URL) -> None:
    """Run `change` (a kctl command) while a client loops requests and a sampler counts ready pods."""
    def ready_count(pods: list[dict[str, Any]]) -> int:
        return sum(1 for p in pods if live(p) and is_ready(p))

    with Sampler(c, "pods", ready_count, namespace=namespace, selector=f"app={name}", interval=0.2) as sampler, \
            RequestLoop(c, "client", url) as loop:
        t0 = now()
        c.kctl_ok(*change)
        rolled_out(c, version, name, namespace, replicas)
        n = len(loop.result.answers)
        loop.wait_served(lambda r: len(r.answers) >= n + 20, 20, "requests after the rollout")
    during = [v for t, v in sampler.samples if t >= t0]
    counts = loop.result.counts()
    print(f"rollout to {version}: {now() - t0:.1f}s, {len(loop.result.answers)} requests, "
          f"{len(during)} samples, min ready {min(during)}; answers by version: "
          f"{ {v: sum(n for b, n in counts.items() if b.startswith(v + ':')) for v in ('v1', 'v2')} }")
    assert not loop.result.failures, f"{len(loop.result.failures)} requests failed during the rollout"
    assert len(during) >= 10 and min(during) >= replicas - 1, f"fewer than replicas - maxUnavailable ready: {min(during)}"
    tail = [b for _, b in loop.result.answers[-10:]]
    assert all(b.startswith(version + ":") for b in tail), tail


def test_rolling_update_under_load_fails_no_request(healing: LocalCluster) -> None:
    wait_ready(healing, "app=app", 6, timeout=120)
    pod_running(healing, "client")
    wait_for(lambda: sum(len(s.get("addresses") or []) for s in get_json(healing, "endpoints", "app").get("subsets")
                         or []) == 6, 20, "6 endpoints")
    manifest = app_yaml("v2")
    path = healing.data_dir / "app-v2.yaml"
    path.write_text(manifest)
    roll(healing, ["apply", "-f", str(path)], "v2")
    history = healing.kctl_ok("rollout", "history", "deploy/app")
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M), history


def test_rollout_undo_returns_to_the_previous_template(healing: LocalCluster, scratch_namespace: str) -> None:
    """Its own Deployment in its own namespace, rolled v1 -> v2 here, so it holds alone and in any order."""
    ns, name, replicas = scratch_namespace, "undo", 3
    service = f"""
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    apply(healing, app_yaml("v1", name, replicas) + service, namespace=ns)
    rolled_out(healing, "v1", name, ns, replicas)
    apply(healing, app_yaml("v2", name, replicas), namespace=ns)
    rolled_out(healing, "v2", name, ns, replicas)
    v1_rs = {rs["metadata"]["name"] for rs in items(healing, "rs", "-n", ns, "-l", f"app={name}")
             if "echo v1:" in " ".join(rs["spec"]["template"]["spec"]["containers"][0]["command"])}
    assert len(v1_rs) == 1
    roll(healing, ["rollout", "undo", f"deploy/{name}", "-n", ns], "v1", name, ns, replicas,
         url=f"http://{name}.{ns}.svc.cluster.local/")
    pods = rolled_out(healing, "v1", name, ns, replicas)
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == v1_rs, "undo reuses the old ReplicaSet"
    history = healing.kctl_ok("rollout", "history", f"deploy/{name}", "-n", ns)
    assert re.search(r"^3\s", history, re.M) and not re.search(r"^1\s", history, re.M), history
    status = healing.kctl("rollout", "status", f"deploy/{name}", "-n", ns, timeout=30)
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stdout + status.stderr


def stop_node(c: LocalCluster, node: str) -> int:
    """What a dead machine looks like: its kubelet gone (SIGKILL), its containers killed too."""
    c.kill_component(f"kubelet-{node}")
    node_dir = c.data_dir / "nodes" / node
    killed = 0
    for root in cleanup.runc_roots(c.data_dir):
        if node_dir not in root.parents:
            continue
        for ct in cleanup.runc_list(root):
            subprocess.run(["runc", "--root", str(root), "kill", ct.id, "KILL"], capture_output=True, timeout=30)
            killed += 1
    return killed


def test_pods_of_a_failed_node_run_elsewhere_within_45s(healing: LocalCluster) -> None:
    pods = rolled_out(healing, None)  # whichever version the earlier tests (if any) left
    victims = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "node-3"}
    assert victims, "the scheduler spreads 6 replicas over 3 nodes"
    t0 = time.monotonic()
    assert stop_node(healing, "node-3") >= len(victims)

    def healed(pods: list[dict[str, Any]]) -> bool:
        return not any(p["spec"].get("nodeName") == "node-3" for p in pods)
    wait_ready(healing, "app=app", 6, timeout=45 - (time.monotonic() - t0), check=healed)
    elapsed = time.monotonic() - t0
    node = get_json(healing, "node", "node-3")
    ready = next(cond["status"] for cond in node["status"]["conditions"] if cond["type"] == "Ready")
    taints = {t["key"] for t in node["spec"].get("taints") or []}
    print(f"pods of node-3 replaced after {elapsed:.1f}s; node-3 Ready={ready}, taints={taints}")
    assert ready == "Unknown" and "node.kubernetes.io/unreachable" in taints
    # The node comes back: its kubelet finishes the evicted pods and the node is usable again.
    healing.restart_component("kubelet-node-3")
    wait_for(lambda: not {p["metadata"]["name"] for p in items(healing, "pods", "-l", "app=app")} & victims,
             60, "the evicted pods to be gone once node-3 is back")
    wait_for(lambda: not get_json(healing, "node", "node-3")["spec"].get("taints") and any(
        cond["type"] == "Ready" and cond["status"] == "True"
        for cond in get_json(healing, "node", "node-3")["status"]["conditions"]), 60, "node-3 Ready, untainted")


STATEFUL = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: sts}
  ports: [{port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "[ -s /data/id ] || echo $(hostname)-$(cat /proc/sys/kernel/random/uuid) > /data/id; exec httpd -f -p 8080 -h /data"]
        readinessProbe:
          httpGet: {path: /id, port: 8080}
          periodSeconds: 1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Mi}}
"""


@pytest.fixture
def scratch_namespace(healing: LocalCluster) -> Iterator[str]:
    """A namespace of this test only (its claims, and so its local-path volumes, go with it)."""
    ns = f"e2e-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    healing.kctl_ok("create", "namespace", ns)
    try:
        yield ns
    finally:
        healing.kctl("delete", "namespace", ns, "--wait=false")


def test_statefulset_keeps_identity_and_data_across_pod_deletion(healing: LocalCluster, scratch_namespace: str) -> None:
    ns = scratch_namespace
    apply(healing, STATEFUL, namespace=ns)
    pods = wait_ready(healing, "app=sts", 3, timeout=120, namespace=ns)
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]
    created = {p["metadata"]["name"]: p["metadata"]["creationTimestamp"] for p in pods}
    assert created["web-0"] <= created["web-1"] <= created["web-2"], "ordered start"
    ids = {p["metadata"]["name"]: pod_exec(healing, p["metadata"]["name"], "cat /data/id", namespace=ns).strip()
           for p in pods}
    assert all(ids[n].startswith(n + "-") for n in ids), ids
    old = next(p for p in pods if p["metadata"]["name"] == "web-1")
    healing.kctl_ok("delete", "pod", "web-1", "-n", ns, "--wait=false")
    new = wait_for(lambda: (p := pod_running(healing, "web-1", namespace=ns, timeout=90))["metadata"]["uid"]
                   != old["metadata"]["uid"] and p, 90, "a new web-1")
    assert pod_exec(healing, "web-1", "cat /data/id", namespace=ns).strip() == ids["web-1"]
    assert pod_exec(healing, "web-1", "hostname", namespace=ns).strip() == "web-1"
    # Stable DNS name through the headless Service, from a pod in another namespace.
    out = pod_exec(healing, "client", f"nslookup web-1.web.{ns}.svc.cluster.local")
    assert new["status"]["podIP"] in out.split("Name:", 1)[-1], out
    assert {p["metadata"]["name"] for p in wait_ready(healing, "app=sts", 3, namespace=ns)} == set(ids)


def test_job_runs_to_completion_with_retries(healing: LocalCluster) -> None:
    counter = healing.data_dir / "job-counter"
    counter.mkdir()
    apply(healing, f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: flaky}}
spec:
  completions: 2
  parallelism: 1
  backoffLimit: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "n=$(cat /c/n 2>/dev/null || echo 0); echo $((n+1)) > /c/n; [ $n -ne 0 ] || exit 1; echo done $n"]
        volumeMounts: [{{name: c, mountPath: /c}}]
      volumes: [{{name: c, hostPath: {{path: {counter}}}}}]
""")

    def complete() -> dict[str, Any] | None:
        job = get_json(healing, "job", "flaky")
        conds = {c["type"]: c["status"] for c in job.get("status", {}).get("conditions") or []}
        assert conds.get("Failed") != "True", job["status"]
        return job if conds.get("Complete") == "True" else None
    job = wait_for(complete, 90, "the Job to complete", interval=0.5)
    assert job["status"]["succeeded"] == 2 and job["status"]["failed"] == 1, job["status"]
    assert re.search(r"^flaky\s+Complete\s+2/2\s", healing.kctl_ok("get", "jobs"), re.M)


def test_daemonset_covers_a_node_added_later(healing: LocalCluster) -> None:
    apply(healing, """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]}]
""")
    pods = wait_ready(healing, "app=agent", 3, timeout=90)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2", "node-3"]
    t0 = time.monotonic()
    assert healing.add_node() == "node-4"
    pods = wait_ready(healing, "app=agent", 4, timeout=120)
    print(f"node-4 joined and runs its DaemonSet pod after {time.monotonic() - t0:.1f}s")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2", "node-3", "node-4"]
    status = get_json(healing, "ds", "agent")["status"]
    assert status["desiredNumberScheduled"] == 4 and status["numberReady"] == 4, status


def orphans(c: LocalCluster) -> list[str]:
    """Pods and ReplicaSets whose owner no longer exists."""
    uids = {o["metadata"]["uid"] for kind in ("rs", "deploy", "sts", "ds", "jobs")
            for o in items(c, kind, "-A")}
    return [f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
            for kind in ("pods", "rs") for o in items(c, kind, "-A")
            for ref in o["metadata"].get("ownerReferences") or [] if ref["uid"] not in uids]


def test_garbage_collection_leaves_no_orphans(healing: LocalCluster) -> None:
    t0 = time.monotonic()
    healing.kctl_ok("delete", "deploy", "app", "--wait=false")
    wait_for(lambda: not items(healing, "rs", "-l", "app=app") and not items(healing, "pods", "-l", "app=app"),
             60, "the Deployment's ReplicaSets and pods to be collected")
    print(f"Deployment collected after {time.monotonic() - t0:.1f}s")
    ns = f"gc-{os.getpid()}"
    healing.kctl_ok("create", "namespace", ns)
    apply(healing, app_yaml("v9").replace("replicas: 6", "replicas: 2") + """
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: 8080}]
""", namespace=ns)
    wait_ready(healing, "app=app", 2, namespace=ns)
    t0 = time.monotonic()
    healing.kctl_ok("delete", "namespace", ns, "--wait=false")
    table = healing.kctl_ok("get", "namespace", ns)
    assert "Terminating" in table, table

    def gone() -> bool:
        r = healing.kctl("get", "namespace", ns)
        return r.returncode != 0 and "NotFound" in r.stderr
    wait_for(gone, 90, f"namespace {ns} to be deleted", interval=0.5)
    print(f"namespace deleted after {time.monotonic() - t0:.1f}s")
    for kind in ("pods", "rs", "deploy", "svc", "endpoints", "configmaps"):
        assert not items(healing, kind, "-n", ns), f"{kind} left in the deleted namespace"
    wait_for(lambda: orphans(healing) == [], 30, "no pod or ReplicaSet without its owner")
