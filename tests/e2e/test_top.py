"""End to end: `kctl top` reports what the pods' cgroups count (runc: real cgroups)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers with cgroup limits")]

BURN = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: busybox:1.35
        command: ["sh", "-c", "while true; do :; done"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 150m, memory: 64Mi}
"""


def _cgroup(container_id: str) -> Path:
    found = list(Path("/sys/fs/cgroup/cpuacct/kubelite").glob(f"**/pod-*/{container_id}"))
    assert len(found) == 1, f"cgroup of container {container_id}: {found}"
    return found[0] / "cpuacct.usage"


def _top_millicores(c: LocalCluster) -> int | None:
    out = c.kctl("top", "pods", "-l", "app=burn", "--no-headers")
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return int(out.stdout.split()[1].rstrip("m"))


def test_top_pods_agrees_with_the_cgroup(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    c.kctl_ok("apply", "-f", "-", input=BURN)

    def running_id() -> str | None:
        pods = json.loads(c.kctl_ok("get", "pods", "-l", "app=burn", "-o", "json"))["items"]
        for p in pods:
            for s in (p.get("status") or {}).get("containerStatuses") or []:
                if "running" in (s.get("state") or {}):
                    return str(s["containerID"]).rpartition("://")[2]
        return None

    cid = wait_for(running_id, 120, "the burn pod to run")
    usage = _cgroup(cid)
    wait_for(lambda: _top_millicores(c), 60, "kctl top to report the pod")

    def agrees() -> tuple[int, float] | None:
        """Top's figure against the cgroup's rate over the ~20 s around it (the kubelet's window is 5-10 s)."""
        before, t0 = int(usage.read_text()), time.monotonic()
        shown = None
        deadline = t0 + 20
        while time.monotonic() < deadline:
            shown = _top_millicores(c)  # the last answer within the span (each call is a subprocess)
        after, t1 = int(usage.read_text()), time.monotonic()
        measured = (after - before) / (t1 - t0) / 1e6
        if shown is None or abs(shown - measured) > 0.1 * measured:
            return None
        return shown, measured

    shown, measured = wait_for(agrees, 180, "kctl top and the cgroup to agree within 10%")
    assert 0 < measured <= 150 * 1.05  # the CPU limit holds
    nodes = c.kctl_ok("top", "nodes")
    assert nodes.splitlines()[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert len(nodes.splitlines()) == 4
