"""End to end on a runc cluster: pod security is enforced, not just accepted.

Why e2e: each setting is checked where a user sees it -- `kctl get`/`describe`
for a refused container, `kctl exec` for the uid a process really has, the
pod's pids cgroup (the parent of its containers') for the fork limit, `kctl apply` for Pod Security
admission -- so a setting the apiserver stores but the kubelet or runc drops
fails here. Every test uses its own names and removes what it made, so the
tests run in any order on the module's shared cluster.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.main import build_parser as kubelet_parser
from kubelite import cleanup
from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pod_json(c: LocalCluster, name: str, namespace: str = "default") -> dict[str, Any]:
    return dict(json.loads(c.kctl_ok("get", "pod", name, "-n", namespace, "-o", "json")))


def status_text(c: LocalCluster, name: str, namespace: str = "default") -> str:
    """The pod's status for a failure message (what the test was waiting on)."""
    r = c.kctl("get", "pod", name, "-n", namespace, "-o", "json")
    return r.stderr.strip() if r.returncode else json.dumps(json.loads(r.stdout).get("status", {}))[:800]


def running(c: LocalCluster, name: str, namespace: str = "default", timeout: float = 120) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        p = pod_json(c, name, namespace)
        statuses = p.get("status", {}).get("containerStatuses", [])
        ok = p.get("status", {}).get("phase") == "Running" and statuses and all(
            "running" in s.get("state", {}) for s in statuses)
        return p if ok else None
    return wait_for(check, timeout, f"pod {namespace}/{name} to run (status: {status_text(c, name, namespace)})")


def simple_pod(name: str, command: str, extra_spec: str = "", container_extra: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
{extra_spec}  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", {json.dumps(command)}]
{container_extra}"""


@pytest.fixture
def pods(runc_cluster: LocalCluster) -> Iterator[list[tuple[str, str]]]:
    """(namespace, name) of pods a test made; deleted afterwards so the shared cluster stays clean."""
    made: list[tuple[str, str]] = []
    yield made
    for namespace, name in made:
        runc_cluster.kctl("delete", "pod", name, "-n", namespace, "--grace-period", "0", "--force", timeout=120)


def test_run_as_non_root_on_a_root_image_is_a_config_error(
        runc_cluster: LocalCluster, pods: list[tuple[str, str]]) -> None:
    c = runc_cluster
    name = unique("nonroot")
    pods.append(("default", name))
    c.kctl_ok("apply", "-f", "-", input=simple_pod(
        name, "sleep 3600", container_extra="    securityContext: {runAsNonRoot: true}\n"))

    def waiting() -> dict[str, Any] | None:
        statuses = pod_json(c, name).get("status", {}).get("containerStatuses", [])
        state = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
        return statuses[0] if state.get("reason") == "CreateContainerConfigError" else None

    st = wait_for(waiting, 90, f"{name} to wait with CreateContainerConfigError ({status_text(c, name)})")
    message = st["state"]["waiting"].get("message", "")
    assert message.startswith("container has runAsNonRoot and image will run as root (pod: "), message
    assert f'"{name}_default(' in message and message.endswith("container: main)"), message
    assert "running" not in st["state"] and not st.get("ready"), st
    assert pod_json(c, name)["status"]["phase"] == "Pending"
    described = c.kctl_ok("describe", "pod", name)
    assert "CreateContainerConfigError" in described, described
    assert "container has runAsNonRoot and image will run as root" in described, described


def test_run_as_user_is_the_uid_exec_sees(runc_cluster: LocalCluster, pods: list[tuple[str, str]]) -> None:
    c = runc_cluster
    name = unique("uid")
    pods.append(("default", name))
    c.kctl_ok("apply", "-f", "-", input=simple_pod(
        name, "sleep 3600", container_extra="    securityContext: {runAsUser: 1000}\n"))
    running(c, name)
    assert c.kctl_ok("exec", name, "--", "id", "-u").strip() == "1000"
    # PID 1 as well, not only what exec starts: the container's own process runs as 1000.
    status = c.kctl_ok("exec", name, "--", "cat", "/proc/1/status")
    assert any(line.split()[:2] == ["Uid:", "1000"] for line in status.splitlines()), status


def expected_pids_limit(c: LocalCluster, node: str) -> int:
    """The kubelet's `--pod-max-pids` as `kubelite up` starts it (the kubelet's default if not passed)."""
    argv = next(comp.argv for comp in c.plan.components if comp.name == f"kubelet-{node}")
    args, _ = kubelet_parser().parse_known_args(argv[argv.index("kubelet") + 1:])
    return int(args.pod_max_pids)


def container_pids_cgroup(c: LocalCluster, container_id: str) -> Path:
    """The pids cgroup directory of a runc container (cgroup v1 `pids` controller or v2 unified)."""
    cid = container_id.rpartition("://")[2]
    pid = next((ct.pid for root in cleanup.runc_roots(c.data_dir) for ct in cleanup.runc_list(root)
                if ct.id == cid and ct.status == "running"), 0)
    assert pid, f"no running runc container {cid}"
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return Path("/sys/fs/cgroup/pids") / path.lstrip("/")
    unified = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
    return Path("/sys/fs/cgroup") / unified.lstrip("/")


def two_forkers_pod(name: str, node: str, each: int) -> str:
    """Two containers that each fork `each` sleeps once /dev/shm/go (the pod's shared shm) exists.

    The inner shell gives up at its first failed fork (ash); the outer one (PID 1) then says so
    and execs into sleep without forking, so both containers stay Running at the limit."""
    loop = f"while [ ! -e /dev/shm/go ]; do sleep 0.2; done; i=0; while [ $i -lt {each} ]; do sleep 1000 & i=$((i+1)); done"
    command = json.dumps(f"sh -c '{loop}'; echo fork-loop-stopped; exec sleep 3600")
    containers = "".join(f"""  - name: {n}
    image: busybox
    command: ["sh", "-c", {command}]
""" for n in ("forker-a", "forker-b"))
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  containers:
{containers}"""


def test_fork_loops_in_two_containers_stop_at_the_pod_pids_limit_and_the_node_carries_on(
        runc_cluster: LocalCluster, pods: list[tuple[str, str]]) -> None:
    """The pids limit is the pod's (like Kubernetes' podPidsLimit): two containers that together
    want more than it stop at it in total, each alone far below it; the node and other pods carry on."""
    c = runc_cluster
    node = "node-2"
    limit = expected_pids_limit(c, node)
    assert limit > 0, "kubelite up must start kubelets with a pids limit"
    pin = f"  nodeSelector: {{kubernetes.io/hostname: {node}}}\n"
    bomb, neighbour = unique("forkloop"), unique("neighbour")
    pods.extend([("default", bomb), ("default", neighbour)])
    c.kctl_ok("apply", "-f", "-", input=simple_pod(neighbour, "sleep 3600", extra_spec=pin))
    running(c, neighbour)
    each = limit // 2 + limit // 8  # 1.25x the limit together
    c.kctl_ok("apply", "-f", "-", input=two_forkers_pod(bomb, node, each))
    p = running(c, bomb)
    c.kctl_ok("exec", bomb, "-c", "forker-a", "--", "touch", "/dev/shm/go")

    def stopped(container: str) -> str | None:
        out = c.kctl("logs", bomb, "-c", container).stdout
        return out if "fork-loop-stopped" in out else None
    logs = [wait_for(lambda n=n: stopped(n), 180, f"the fork loop in {bomb}/{n} to end ({status_text(c, bomb)})",
                     interval=1) for n in ("forker-a", "forker-b")]
    assert any("can't fork" in text for text in logs), logs

    p = running(c, bomb)
    assert all(s.get("restartCount", 0) == 0 for s in p["status"]["containerStatuses"])
    cgroups = [container_pids_cgroup(c, s["containerID"]) for s in p["status"]["containerStatuses"]]
    pod_cg = cgroups[0].parent
    assert cgroups[1].parent == pod_cg, "the pod's containers do not share a pod cgroup"
    assert (pod_cg / "pids.max").read_text().strip() == str(limit)
    assert all((cg / "pids.max").read_text().strip() == "max" for cg in cgroups), "a per-container limit is set"
    per_container = [int((cg / "pids.current").read_text()) for cg in cgroups]
    total = int((pod_cg / "pids.current").read_text())
    # At the failed fork the pod is full: two PID 1s + inner shells + sleeps; the refused inner shell exited since.
    assert limit - 2 <= total <= limit, (total, limit)
    assert sum(per_container) == total and all(n > 1 for n in per_container), per_container

    n = json.loads(c.kctl_ok("get", "node", node, "-o", "json"))
    ready = next(x for x in n["status"]["conditions"] if x["type"] == "Ready")
    assert ready["status"] == "True", ready
    r = c.kctl("exec", neighbour, "--", "echo", "still-here")
    assert r.returncode == 0 and r.stdout.strip() == "still-here", r.stdout + r.stderr

    r = c.kctl("delete", "pod", bomb, "--grace-period", "0", "--force", timeout=120)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not pod_cg.exists(), 120, f"the pod cgroup {pod_cg} to be removed with the pod")


RESTRICTED_OK = """    securityContext:
      runAsNonRoot: true
      runAsUser: 1000
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
"""


def test_restricted_namespace_refuses_a_plain_pod_and_accepts_a_compliant_one(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    ns = unique("restricted")
    c.kctl_ok("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels: {{pod-security.kubernetes.io/enforce: restricted}}
""")
    try:
        plain = unique("plain")
        refused = c.kctl("apply", "-n", ns, "-f", "-", input=simple_pod(plain, "sleep 3600"))
        assert refused.returncode != 0, refused.stdout
        assert f'pods "{plain}" is forbidden: violates PodSecurity "restricted:latest": ' in refused.stderr, \
            refused.stderr
        assert "allowPrivilegeEscalation != false" in refused.stderr, refused.stderr
        gone = c.kctl("get", "pod", plain, "-n", ns)
        assert gone.returncode != 0 and "not found" in gone.stderr, gone.stdout + gone.stderr

        compliant = unique("compliant")
        out = c.kctl_ok("apply", "-n", ns, "-f", "-", input=simple_pod(
            compliant, "sleep 3600", container_extra=RESTRICTED_OK))
        assert f"pod/{compliant} created" in out, out
        running(c, compliant, ns)
        # `-n` before the command: kctl exec takes only -c/-i/-t between POD and `--`.
        assert c.kctl_ok("-n", ns, "exec", compliant, "--", "id", "-u").strip() == "1000"
    finally:
        c.kctl("delete", "pod", "--all", "-n", ns, "--grace-period", "0", "--force", timeout=120)
        c.kctl("delete", "namespace", ns, "--wait=false", timeout=120)
