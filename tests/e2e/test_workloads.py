"""End to end: Deployments on a real `kubelite up` cluster become real processes.

Everything goes through the user's tools (`kctl`, `kubelite`) and is checked
against what a user can observe: objects in the API and processes on the host.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.e2e

MARKER = f"kubelite-e2e-{uuid.uuid4().hex[:8]}"


def deployment_yaml(name: str, replicas: int, greeting: str = "hello") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: busybox:1.35
        command: ["sh", "-c", "echo {greeting} from $POD; while true; do sleep 1; done", "{MARKER}"]
        env:
        - name: POD
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        resources:
          requests: {{cpu: 100m, memory: 32Mi}}
"""


def get_json(c: LocalCluster, *args: str) -> dict[str, Any]:
    return json.loads(c.kctl_ok("get", *args, "-o", "json"))


def items(c: LocalCluster, *args: str) -> list[dict[str, Any]]:
    data = get_json(c, *args)
    return list(data["items"]) if data.get("kind", "").endswith("List") else [data]


def container_pid(pod: dict[str, Any]) -> int | None:
    for status in pod.get("status", {}).get("containerStatuses", []):
        cid = status.get("containerID", "")
        digits = "".join(ch for ch in cid.rpartition("//")[2] if ch.isdigit())
        if status.get("state", {}).get("running") and digits:
            return int(digits)
    return None


def process_runs_marker(pid: int) -> bool:
    try:
        return MARKER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running_pods(c: LocalCluster, app: str) -> list[dict[str, Any]]:
    pods = items(c, "pods", "-l", f"app={app}")
    return [p for p in pods if p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp") and container_pid(p)]


def wait_running(c: LocalCluster, app: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        pods = items(c, "pods", "-l", f"app={app}")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        running = running_pods(c, app)
        return running if len(running) == count and len(live) == count else None
    return wait_for(check, timeout, f"{count} running pods of {app}")


def apply(c: LocalCluster, manifest: str) -> str:
    return c.kctl_ok("apply", "-f", "-", input=manifest)


def test_deployment_runs_real_processes_spread_over_nodes(cluster: LocalCluster) -> None:
    out = apply(cluster, deployment_yaml("web", 3))
    assert "deployment.apps/web created" in out
    pods = wait_running(cluster, "web", 3)
    for pod in pods:
        pid = container_pid(pod)
        assert pid is not None and process_runs_marker(pid), f"no live process behind {pod['metadata']['name']}"
        owner = pod["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["name"].startswith("web-")
    assert {p["spec"]["nodeName"] for p in pods} == {"node-1", "node-2"}, "least-allocated should spread pods"
    table = cluster.kctl_ok("get", "pods", "-l", "app=web")
    assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table.count("Running") == 3
    logs = wait_for(lambda: cluster.kctl("logs", pods[0]["metadata"]["name"]).stdout, 20, "pod logs")
    assert f"hello from {pods[0]['metadata']['name']}" in logs
    assert "unchanged" in apply(cluster, deployment_yaml("web", 3))


def test_scale_up_and_down(cluster: LocalCluster) -> None:
    assert "scaled" in cluster.kctl_ok("scale", "deployment", "web", "--replicas=5")
    pods = wait_running(cluster, "web", 5)
    assert "scaled" in cluster.kctl_ok("scale", "deploy/web", "--replicas=1")
    remaining = wait_running(cluster, "web", 1)
    gone = [container_pid(p) for p in pods if p["metadata"]["name"] != remaining[0]["metadata"]["name"]]
    wait_for(lambda: not any(pid and process_runs_marker(pid) for pid in gone), 30, "scaled-down processes to exit")
    deploy = get_json(cluster, "deployment", "web")
    wait_for(lambda: get_json(cluster, "deployment", "web")["status"].get("readyReplicas") == 1, 30,
             "deployment status to show 1 ready replica")
    assert deploy["spec"]["replicas"] == 1


def test_template_change_rolls_to_a_new_replicaset(cluster: LocalCluster) -> None:
    apply(cluster, deployment_yaml("web", 2))
    old_pods = wait_running(cluster, "web", 2)
    old_rs = {p["metadata"]["ownerReferences"][0]["name"] for p in old_pods}
    assert "configured" in apply(cluster, deployment_yaml("web", 2, greeting="bonjour"))

    def rolled() -> list[dict[str, Any]] | None:
        pods = running_pods(cluster, "web")
        owners = {p["metadata"]["ownerReferences"][0]["name"] for p in pods}
        return pods if len(pods) == 2 and not owners & old_rs and len(items(cluster, "pods", "-l", "app=web")) == 2 else None

    new_pods = wait_for(rolled, 90, "pods of the new ReplicaSet to replace the old ones")
    replicasets = {rs["metadata"]["name"]: rs for rs in items(cluster, "rs", "-l", "app=web")}
    assert len(replicasets) >= 2
    for name in old_rs:
        assert replicasets[name]["spec"]["replicas"] == 0
    logs = wait_for(lambda: cluster.kctl("logs", new_pods[0]["metadata"]["name"]).stdout, 20, "new pod logs")
    assert "bonjour" in logs
    for pod in old_pods:
        pid = container_pid(pod)
        wait_for(lambda pid=pid: not (pid and process_runs_marker(pid)), 30, "old pod process to exit")


def test_killed_process_is_restarted(cluster: LocalCluster) -> None:
    pod = running_pods(cluster, "web")[0]
    name, pid = pod["metadata"]["name"], container_pid(pod)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        fresh = get_json(cluster, "pod", name)
        status = fresh["status"]["containerStatuses"][0]
        new_pid = container_pid(fresh)
        ok = status.get("restartCount", 0) >= 1 and new_pid and new_pid != pid and process_runs_marker(new_pid)
        return fresh if ok else None

    wait_for(restarted, 60, "the kubelet to restart the killed container")


def test_bad_manifest_is_rejected_with_a_clear_error(cluster: LocalCluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(deployment_yaml("ok-one", 1) + "---\n" + deployment_yaml("bad-one", 1).replace("replicas: 1", "replicas: -1"))
    result = cluster.kctl("apply", "-f", str(bad))
    assert result.returncode != 0
    assert "bad.yaml" in result.stderr and "document 2" in result.stderr and "spec.replicas" in result.stderr
    assert "Traceback" not in result.stderr
    missing = cluster.kctl("get", "deployment", "ok-one")
    assert missing.returncode != 0 and "NotFound" in missing.stderr, "nothing may be half-written"


def test_delete_deployment_removes_replicasets_pods_and_processes(cluster: LocalCluster) -> None:
    pids = [container_pid(p) for p in running_pods(cluster, "web")]
    assert "deleted" in cluster.kctl_ok("delete", "deployment", "web")
    wait_for(lambda: not items(cluster, "rs", "-l", "app=web") and not items(cluster, "pods", "-l", "app=web"),
             60, "ReplicaSets and pods of the deleted Deployment to be garbage-collected")
    assert not any(pid and process_runs_marker(pid) for pid in pids)


def test_control_plane_survives_kill_9(cluster: LocalCluster) -> None:
    apply(cluster, deployment_yaml("durable", 2))
    before = {p["metadata"]["name"] for p in wait_running(cluster, "durable", 2)}
    kv_members = [c.name for c in cluster.plan.components if c.name.startswith("kvstore")]
    for name in ("apiserver", *kv_members):
        cluster.kill_component(name)
    for name in kv_members:
        cluster.restart_component(name)
    cluster.restart_component("apiserver")
    after = wait_for(lambda: (r := cluster.kctl("get", "pods", "-l", "app=durable", "-o", "json")).returncode == 0
                     and {p["metadata"]["name"] for p in json.loads(r.stdout)["items"]}, 60,
                     "the restarted apiserver to serve the old pods")
    assert after == before
    assert get_json(cluster, "deployment", "durable")["spec"]["replicas"] == 2
    # Controllers, scheduler and kubelets reconnect: a deleted pod is replaced and runs.
    victim = sorted(before)[0]
    cluster.kctl_ok("delete", "pod", victim)
    pods = wait_running(cluster, "durable", 2, timeout=90)
    assert victim not in {p["metadata"]["name"] for p in pods}
    cluster.kctl_ok("scale", "deploy/durable", "--replicas=3")
    wait_running(cluster, "durable", 3, timeout=60)
    cluster.kctl_ok("delete", "deployment", "durable")


def _etcdctl(cluster: LocalCluster, *args: str, client_cert: bool = True) -> subprocess.CompletedProcess[str]:
    """The real etcdctl against the cluster's kvstore, over TLS with the kvstore CA (and, unless
    `client_cert` is False, the apiserver's kvstore client certificate)."""
    from kubelite.pki import cluster as pki
    from kubelite.pki.certs import cert_path, key_path

    etcdctl = shutil.which("etcdctl")
    assert etcdctl is not None, "etcdctl is installed by deploy/install-deps.sh"
    certs = cluster.plan.pki_dir
    kv = next(c for c in cluster.plan.components if c.name.startswith("kvstore"))
    endpoint = "https://" + kv.argv[kv.argv.index("--listen-client") + 1]
    tls = ["--cacert", str(cert_path(certs, pki.KVSTORE_CA))]
    if client_cert:
        tls += ["--cert", str(cert_path(certs, "apiserver-etcd-client")),
                "--key", str(key_path(certs, "apiserver-etcd-client"))]
    return subprocess.run([etcdctl, "--endpoints", endpoint, "--dial-timeout", "2s", "--command-timeout", "3s",
                           *tls, *args], env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True,
                          text=True, errors="replace", timeout=30)  # values are ciphertext: not UTF-8


def test_secrets_are_encrypted_at_rest_by_default(cluster: LocalCluster) -> None:
    key_file = cluster.data_dir / "encryption-config.yaml"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, "the key file is private to its owner"
    value = base64.b64encode(f"s3cret-{MARKER}".encode()).decode()
    manifest = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {value}\n"
    assert "created" in cluster.kctl_ok("apply", "-f", "-", input=manifest)
    assert get_json(cluster, "secret", "db")["data"] == {"password": value}
    raw = _etcdctl(cluster, "get", "/registry/secrets/default/db", "--print-value-only")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.startswith("k8s:enc:aesgcm:v1:key1:"), raw.stdout[:40]
    assert value not in raw.stdout and MARKER not in raw.stdout


def test_every_link_is_mutual_tls(cluster: LocalCluster) -> None:
    """`up` made a PKI and every daemon uses it: kctl (admin certificate from its config) reads
    logs through the apiserver from the kubelet; a client without a certificate is refused; the
    kvstore answers etcdctl only with a kvstore-CA certificate; `kubelite certs` sees it all."""
    apply(cluster, deployment_yaml("secure", 1, greeting="tls"))
    pod = wait_running(cluster, "secure", 1)[0]["metadata"]["name"]
    wait_for(lambda: f"tls from {pod}" in cluster.kctl("logs", pod).stdout, 30, "logs over apiserver -> kubelet")
    plain = subprocess.run([sys.executable, "-m", "kubectl.main", "--server", cluster.server, "get", "pods"],
                           env={**cluster.env, "KUBELITE_CONFIG": "/nonexistent"}, capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode != 0
    check = cluster.kubelite("certs", "check-expiration", "--data-dir", str(cluster.data_dir))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "kubelet-client-node-2" in check.stdout and "apiserver-etcd-client" in check.stdout
    ok = _etcdctl(cluster, "get", "/registry/namespaces/default", "--keys-only")
    assert ok.stdout.strip() == "/registry/namespaces/default", ok.stderr
    assert _etcdctl(cluster, "get", "/registry/namespaces/default", client_cert=False).returncode != 0
    cluster.kctl_ok("delete", "deployment", "secure")
