"""The first hour, as a transcript: up -> apply -> get -> logs -> exec -> port-forward -> run --rm -> down,
on a machine that already runs another cluster, typed as a user would (kctl found through the
context `up` wrote, never `--server`). Afterwards the other cluster is untouched -- its pods
(same uids, no restarts), processes, node namespaces, iptables rules and chains, cgroups and kctl
context -- and the first one left nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite import netns
from kubelite.localcluster import cluster_name, load_state
from kubelite.procs import is_same_process_alive
from tests.e2e.cluster import (
    LocalCluster,
    free_net_id,
    leftovers,
    random_port_offset,
    runc_unavailable,
    wait_for,
)
from tests.e2e.conftest import bring_up, tear_down

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc pods, network namespaces, cgroups")]

APP = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                  "terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "web", "image": "busybox", "ports": [{"containerPort": 8080}],
                                  "command": ["sh", "-c", "mkdir -p /www && echo hello-first-hour > /www/index.html"
                                              " && echo serving on 8080 && exec httpd -f -p 8080 -h /www"]}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
]
BYSTANDER_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bystander"},
                 "spec": {"terminationGracePeriodSeconds": 1,
                          "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}
FORWARDING = re.compile(rb"Forwarding from 127\.0\.0\.1:(\d+) -> 8080")


def cgroups_of(name: str) -> list[Path]:
    """This cluster's cgroup parents (`kubelite/<cluster>`) in every controller hierarchy."""
    root = Path("/sys/fs/cgroup")
    return [c / "kubelite" / name for c in root.iterdir() if (c / "kubelite" / name).is_dir()]


def chains_of(c: LocalCluster) -> str:
    """The nat table inside the cluster's first node namespace (its proxy's Service chains)."""
    assert c.plan.network is not None
    node = c.plan.network.nodes[0].netns
    return subprocess.run(["ip", "netns", "exec", node, "iptables-save", "-t", "nat"], capture_output=True,
                          text=True, timeout=30).stdout


@pytest.fixture(scope="module")
def bystander(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The other cluster on the machine: one node, one pod (Ready by the end of the other's `up`)."""
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    c = LocalCluster(Path(tmp_path_factory.mktemp("by")), nodes=1, kv_members=1, runtime="runc",
                     port_offset=random_port_offset(), net_id=free_net_id())
    bring_up(c)
    try:
        c.kctl_ok("apply", "-f", "-", input=json.dumps(BYSTANDER_POD))
        yield c
    finally:
        tear_down(c)


def test_first_hour_beside_another_cluster(bystander: LocalCluster, tmp_path: Path) -> None:
    by = bystander
    by_pod, by_service = json.loads(by.kctl_ok("get", "pod/bystander", "svc/kubernetes", "-o", "json"))["items"]
    by_processes = load_state(by.data_dir)[1]
    by_chains = chains_of(by)
    by_service_ip = by_service["spec"]["clusterIP"]
    assert by_service_ip in by_chains
    assert by.plan.network is not None
    by_rules = netns.leftover_rules(by.plan.network.comment)
    assert by_rules and cgroups_of(by.plan.name)

    # The user's shell: kctl's config already holds the other cluster's context, which is current.
    config, kubeconfig = tmp_path / "kctl-config", tmp_path / "kubeconfig"
    config.write_text((by.data_dir / "config").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELITE_")}
    env.update(KUBELITE_CONFIG=str(config), KUBECONFIG=str(kubeconfig))
    offset = by.port_offset + 10  # random_port_offset leaves room for this below the ephemeral range
    net_id = free_net_id()
    while net_id == by.net_id:
        net_id = free_net_id()
    me = LocalCluster(tmp_path / "c", nodes=1, kv_members=1, runtime="runc", port_offset=offset, net_id=net_id)
    name = cluster_name(offset)

    def kubelite(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubelite.main", *args], env=env, capture_output=True,
                              text=True, timeout=240)

    def kctl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "kubectl.main", "--context", name, *args], env=env,
                              capture_output=True, text=True, timeout=150, input=stdin)
        assert done.returncode == 0, f"kctl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    up = kubelite("up", "--data-dir", str(me.data_dir), "--port-offset", str(offset), "--net-id", str(net_id),
                  "--nodes", "1", "--kv-members", "1", "--timeout", "3m")
    try:
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
        # Not made current (the other cluster was): the hints say how to reach this one, and how to stop it.
        assert f"kctl config use-context {name}" in up.stdout
        assert f"kctl --context {name} get nodes" in up.stdout
        assert f"kubelite down --data-dir {me.data_dir}" in up.stdout
        assert "Server Version: v1.32.0-kubelite" in kctl("version")
        by.kctl_ok("wait", "--for=condition=Ready", "pod/bystander", "--timeout=2m")

        kctl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in APP))
        kctl("wait", "--for=condition=Available", "deploy/web", "--timeout=2m")
        pods = kctl("get", "pods", "-o", "wide").splitlines()
        assert len(pods) == 2 and " Running " in pods[1] and "node-1" in pods[1], pods
        assert wait_for(lambda: "serving on 8080" in kctl("logs", "deploy/web"), 30, "the app's log line")
        pod = pods[1].split()[0]
        assert kctl("logs", "-l", "app=web", "--all-containers", "--prefix", "--since=1h") == \
            f"[pod/{pod}/web] serving on 8080\n"
        assert kctl("exec", pod, "--", "cat", "/www/index.html") == "hello-first-hour\n"

        forward = subprocess.Popen([sys.executable, "-m", "kubectl.main", "--context", name, "port-forward",
                                    "svc/web", ":80"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert forward.stdout is not None
            seen, deadline = b"", time.monotonic() + 60
            while not FORWARDING.search(seen) and time.monotonic() < deadline and forward.poll() is None:
                if select.select([forward.stdout], [], [], 1)[0]:
                    seen += os.read(forward.stdout.fileno(), 4096)
            found = FORWARDING.search(seen)
            assert found, seen
            with urllib.request.urlopen(f"http://127.0.0.1:{int(found.group(1))}/", timeout=20) as answer:
                assert answer.read() == b"hello-first-hour\n"
        finally:
            forward.send_signal(signal.SIGINT)
            forward.wait(timeout=20)

        # A Service by name from inside, in a throwaway pod that is gone afterwards.
        out = kctl("run", "--rm", "-i", "probe", "--image=busybox", "--restart=Never", "--", "wget", "-qO-",
                   "http://web")
        assert out == 'hello-first-hour\npod "probe" deleted\n'
        assert cgroups_of(name), "the cluster's cgroups live under kubelite/<cluster>"
    finally:
        down = kubelite("down", "--data-dir", str(me.data_dir))
    assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"
    assert leftovers(me) == [] and cgroups_of(name) == []
    assert name not in config.read_text() and name not in (kubeconfig.read_text() if kubeconfig.exists() else "")

    # The other cluster: same pod (uid, no restarts, Ready), every process, rule, chain and cgroup still there.
    now = json.loads(by.kctl_ok("get", "pod", "bystander", "-o", "json"))
    assert now["metadata"]["uid"] == by_pod["metadata"]["uid"]
    assert now["status"]["containerStatuses"][0]["restartCount"] == 0
    assert now["status"]["containerStatuses"][0]["ready"] is True
    assert all(is_same_process_alive(p.pid, p.start_ticks) for p in load_state(by.data_dir)[1]), by_processes
    assert all(netns.netns_exists(n.netns) for n in by.plan.network.nodes)
    assert netns.leftover_rules(by.plan.network.comment) == by_rules
    assert by_service_ip in chains_of(by)
    assert cgroups_of(by.plan.name)
    assert by.kctl_ok("exec", "bystander", "--", "echo", "still-here") == "still-here\n"
    current = subprocess.run([sys.executable, "-m", "kubectl.main", "config", "current-context"], env=env,
                             capture_output=True, text=True, timeout=30).stdout.strip()
    assert current == cluster_name(by.port_offset)
