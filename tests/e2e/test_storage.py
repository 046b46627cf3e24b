"""End to end: volumes that keep data and budgets that hold drains (issue 17, parts 1 and 5).

One 2-node runc cluster. A StatefulSet of 3 with a claim each writes a file
per ordinal into its local-path volume; the data survives a pod's deletion
(the pod comes back on the node its volume lives on) and a scale to 1 and
back; deleting the set and its claims removes the directories under the
nodes' data directories. A ReadWriteMany claim from local-path stays Pending
with a clear event. Real `kubectl drain` stops while a PodDisruptionBudget
would be violated, naming it, and goes through once it is relaxed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import LocalCluster, free_net_id, random_port_offset, runc_unavailable, wait_for
from tests.e2e.conftest import bring_up, tear_down
from tests.e2e.svchelpers import apply, items, live, pod_exec, pod_running, wait_ready
from tests.e2e.test_kubectl import KUBECTL, Kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

GLOBAL_HACK_ROOT = Path("/var/lib/kubelite/volumes")  # where StatefulSet data used to go (must stay unused)

STATEFUL = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 3
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "[ -s /data/id ] || echo $(hostname)-$(cat /proc/sys/kernel/random/uuid) > /data/id; exec sleep 3600"]
        readinessProbe:
          exec: {command: ["cat", "/data/id"]}
          periodSeconds: 1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Mi}}
"""


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    data_dir = Path(tmp_path_factory.mktemp("st"))
    c = LocalCluster(data_dir, nodes=2, port_offset=random_port_offset(), runtime="runc",
                     net_id=free_net_id())
    bring_up(c)
    try:
        yield c
    finally:
        tear_down(c)


def ids(c: LocalCluster, names: list[str]) -> dict[str, str]:
    return {n: pod_exec(c, n, "cat /data/id").strip() for n in names}


def claims(c: LocalCluster) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in items(c, "pvc")}


def volume_dirs(c: LocalCluster) -> dict[str, Path]:
    """PV name -> its directory, for every local-path volume on any node of this cluster."""
    out = {}
    for root in (c.data_dir / "nodes").glob("*/volumes/local-path"):
        for d in root.iterdir():
            out[d.name] = d
    return out


def test_default_class_and_tables(storage: LocalCluster) -> None:
    out = storage.kctl_ok("get", "storageclass")
    assert out.split("\n")[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                          "ALLOWVOLUMEEXPANSION", "AGE"]
    assert "local-path (default)" in out and "kubelite.io/local-path" in out and "WaitForFirstConsumer" in out


def test_statefulset_claims_keep_data_and_are_removed_with_delete_policy(storage: LocalCluster) -> None:
    c = storage
    hack_before = GLOBAL_HACK_ROOT.exists()
    apply(c, STATEFUL)
    pods = wait_ready(c, "app=web", 3, timeout=180)
    names = sorted(p["metadata"]["name"] for p in pods)
    assert names == ["web-0", "web-1", "web-2"]
    first = ids(c, names)
    assert all(first[n].startswith(n + "-") for n in names), first

    pvcs = claims(c)
    assert sorted(pvcs) == ["data-web-0", "data-web-1", "data-web-2"]
    assert all(p["status"]["phase"] == "Bound" and p["spec"]["storageClassName"] == "local-path"
               for p in pvcs.values())
    table = c.kctl_ok("get", "pvc")
    assert table.split("\n")[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES",
                                            "STORAGECLASS", "AGE"]
    pv_table = c.kctl_ok("get", "pv")
    assert "default/data-web-1" in pv_table and "Delete" in pv_table and "RWO" in pv_table
    dirs = volume_dirs(c)
    for n in names:
        pv = pvcs[f"data-{n}"]["spec"]["volumeName"]
        node = next(p for p in pods if p["metadata"]["name"] == n)["spec"]["nodeName"]
        assert dirs[pv].parent.parent.parent.name == node, "the volume lives under its pod's node's data dir"
        assert (dirs[pv] / "id").read_text().strip() == first[n]

    web1 = next(p for p in pods if p["metadata"]["name"] == "web-1")
    c.kctl_ok("delete", "pod", "web-1", "--wait=false")
    again = wait_for(lambda: (p := pod_running(c, "web-1", timeout=120))["metadata"]["uid"] != web1["metadata"]["uid"]
                     and p, 120, "a new web-1")
    assert again["spec"]["nodeName"] == web1["spec"]["nodeName"], "rescheduled onto the node of its volume"
    assert ids(c, ["web-1"])["web-1"] == first["web-1"]

    c.kctl_ok("scale", "statefulset", "web", "--replicas=1")
    wait_ready(c, "app=web", 1, timeout=120)
    assert sorted(claims(c)) == ["data-web-0", "data-web-1", "data-web-2"], "claims are kept on scale-down"
    c.kctl_ok("scale", "statefulset", "web", "--replicas=3")
    wait_ready(c, "app=web", 3, timeout=180)
    assert ids(c, names) == first, "scaled back up, every ordinal finds its old data"

    volumes = {p["spec"]["volumeName"] for p in claims(c).values()}
    c.kctl_ok("delete", "statefulset", "web")
    wait_for(lambda: not [p for p in items(c, "pods", "-l", "app=web") if live(p)] or None, 120, "pods gone")
    c.kctl_ok("delete", "pvc", "data-web-0", "data-web-1", "data-web-2")
    wait_for(lambda: not (volumes & {p["metadata"]["name"] for p in items(c, "pv")}) or None, 90,
             "the Delete-policy volumes gone")
    assert not (volumes & set(volume_dirs(c))), "their directories removed by the nodes' kubelets"
    assert GLOBAL_HACK_ROOT.exists() == hack_before, "nothing written outside the cluster's data directory"


def test_read_write_many_from_local_path_stays_pending_with_an_event(storage: LocalCluster) -> None:
    c = storage
    apply(c, """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Mi}}
""")

    def event() -> dict[str, Any] | None:
        evs = [e for e in items(c, "events") if e.get("involvedObject", {}).get("name") == "shared"
               and e.get("reason") == "ProvisioningFailed"]
        return evs[0] if evs else None

    ev = wait_for(event, 30, "a ProvisioningFailed event for the RWX claim")
    assert ev["type"] == "Warning" and "ReadWriteMany" in ev["message"], ev
    assert claims(c)["shared"]["status"]["phase"] == "Pending"
    c.kctl_ok("delete", "pvc", "shared")


GUARDED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 2
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: ["sleep", "3600"]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded-pdb}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
"""


def test_real_kubectl_drain_waits_for_the_disruption_budget(storage: LocalCluster, tmp_path: Path) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl (the Debian package) is not installed")
    c = storage
    kubectl = Kubectl(c, tmp_path)
    apply(c, GUARDED)
    pods = wait_ready(c, "app=guarded", 2, timeout=120)
    node = pods[0]["spec"]["nodeName"]

    def budget(allowed: int) -> dict[str, Any] | None:
        pdb = json.loads(kubectl.ok("get", "pdb", "guarded-pdb", "-o", "json"))
        return pdb if pdb.get("status", {}).get("disruptionsAllowed") == allowed and \
            pdb["status"].get("currentHealthy") == 2 else None

    wait_for(lambda: budget(0), 30, "the budget's status")
    try:
        # kubectl retries a refused eviction every 5 s until --timeout: 6 s is one refusal and one retry
        blocked = kubectl.run("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=6s",
                              timeout=60)
        assert blocked.returncode != 0
        text = blocked.stdout + blocked.stderr
        assert "Cannot evict pod as it would violate the pod's disruption budget." in text, text
        assert "guarded-pdb" in text, text
        assert len([p for p in items(c, "pods", "-l", "app=guarded") if live(p)]) == 2, "nothing was evicted"

        kubectl.ok("patch", "pdb", "guarded-pdb", "--type=merge", "-p", '{"spec": {"minAvailable": 1}}')
        wait_for(lambda: budget(1), 30, "one disruption allowed")
        drained = kubectl.ok("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s",
                             timeout=180)
        assert "evicted" in drained
        wait_for(lambda: len([p for p in items(c, "pods", "-l", "app=guarded")
                              if live(p) and p["spec"].get("nodeName") != node]) == 2 or None, 120,
                 "the guarded pods running off the drained node")
    finally:
        kubectl.run("uncordon", node)
        c.kctl("delete", "deployment", "guarded")
        c.kctl("delete", "pdb", "guarded-pdb")
