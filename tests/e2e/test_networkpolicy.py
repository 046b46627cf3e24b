"""End to end: NetworkPolicies enforced with iptables on the nodes (issue 17, part 4).

A 3-node runc cluster. In namespace `np`: an httpd `server` on node-2, a
`client` (role=client) on node-1 (its traffic is routed between nodes) and a
`stranger` without the label on node-2 (its traffic to the server is bridged
on one node, which must be policed too). Every check is what a pod sees:
connections that answer, connections that time out, DNS lookups, and how soon
a deleted policy stops blocking.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.cluster import LocalCluster, wait_for
from tests.e2e.svchelpers import apply, get_json, now, pod_exec, pod_running

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, iptables")]

NS = "np"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]

PODS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {NS}, labels: {{app: server}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: node-2}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {NS}, labels: {{role: client}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: node-1}}
  terminationGracePeriodSeconds: 1
  containers: [{{name: main, image: busybox, command: {SLEEPER}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: stranger, namespace: {NS}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: node-2}}
  terminationGracePeriodSeconds: 1
  containers: [{{name: main, image: busybox, command: {SLEEPER}}}]
"""

DENY_INGRESS = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-ingress, namespace: {NS}}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
"""

ALLOW_CLIENT = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: allow-client, namespace: {NS}}}
spec:
  podSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{role: client}}}}}}]
    ports: [{{port: 8080}}]
"""

DENY_EGRESS = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-egress, namespace: {NS}}}
spec:
  podSelector: {{matchLabels: {{role: client}}}}
  policyTypes: [Egress]
"""


def connects(c: LocalCluster, pod: str, url: str) -> bool:
    """One HTTP GET from `pod` with a 2 s bound (a dropped SYN shows as a timeout)."""
    r = c.kctl("exec", "-n", NS, pod, "--", "timeout", "2", "wget", "-q", "-O-", url, timeout=60)
    return r.returncode == 0 and "hello" in r.stdout


def wait_until_restored(c: LocalCluster, pod: str, url: str, change: list[str]) -> float:
    """Seconds from the end of `kctl <change>` (the object is changed in the store then) until `pod` first
    connects again, on the pod's clock. The loop's attempts are bounded by 1 s (a dropped SYN is retried
    only after 1 s), so this is the enforcement delay plus up to 1 s of sampling."""
    loop = subprocess.Popen(
        [sys.executable, "-m", "kubectl.main", "--server", c.server, "exec", "-n", NS, pod, "--", "sh", "-c",
         f"until timeout 1 wget -q -O- {url} >/dev/null 2>&1; do :; done; cat /proc/uptime"],
        env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The loop keeps failing while the policy holds (checked here), so its first success follows the change.
        wait_for(lambda: not connects(c, pod, url), 10, f"{pod} to be blocked before the change")
        before = now()
        c.kctl_ok(*change)
        t0 = now()
        out, err = loop.communicate(timeout=30)
        print(f"kctl {change[0]} took {t0 - before:.2f}s; restored {float(out.split()[0]) - before:.2f}s after it began")
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    assert loop.returncode == 0, err
    return float(out.split()[0]) - t0


@pytest.fixture(scope="module")
def np_cluster(runc_cluster: LocalCluster) -> tuple[LocalCluster, str]:
    c = runc_cluster
    apply(c, PODS)
    server = pod_running(c, "server", namespace=NS)
    pod_running(c, "client", namespace=NS)
    pod_running(c, "stranger", namespace=NS)
    url = f"http://{server['status']['podIP']}:8080/"
    wait_for(lambda: connects(c, "client", url) and connects(c, "stranger", url), 30,
             "both pods to reach the server before any policy")
    return c, url


def test_invalid_cidr_is_rejected_naming_the_field(np_cluster: tuple[LocalCluster, str]) -> None:
    c, _ = np_cluster
    bad = DENY_INGRESS.replace("policyTypes: [Ingress]", "ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]")
    r = c.kctl("apply", "-f", "-", input=bad)
    assert r.returncode != 0
    assert "spec.ingress[0].from[0].ipBlock.cidr" in r.stderr + r.stdout
    assert "networkpolicy" not in c.kctl("get", "netpol", "-n", NS).stdout.lower()


def test_default_deny_then_allow_exactly_role_client_then_delete(np_cluster: tuple[LocalCluster, str]) -> None:
    c, url = np_cluster
    apply(c, DENY_INGRESS)
    wait_for(lambda: not connects(c, "client", url), 10, "the client to be blocked by the default deny")
    assert not connects(c, "stranger", url), "a pod on the server's own node must be blocked too"
    apply(c, ALLOW_CLIENT)
    table = c.kctl_ok("get", "netpol", "-n", NS)
    assert "POD-SELECTOR" in table and "app=server" in table and "<none>" in table
    wait_for(lambda: connects(c, "client", url), 10, "the role=client pod to be let through")
    for _ in range(3):
        assert not connects(c, "stranger", url), "a pod without role=client must stay blocked"
    c.kctl_ok("delete", "netpol", "allow-client", "-n", NS)
    seconds = wait_until_restored(c, "stranger", url, ["delete", "netpol", "deny-ingress", "-n", NS])
    print(f"traffic restored {seconds:.2f}s after the deletion returned")
    assert seconds < 2.5


def test_egress_deny_blocks_connections_but_not_dns(np_cluster: tuple[LocalCluster, str]) -> None:
    c, url = np_cluster
    apply(c, DENY_EGRESS)
    try:
        wait_for(lambda: not connects(c, "client", url), 10, "the client's outbound connection to be blocked")
        # FQDN: busybox's nslookup does not apply resolv.conf's search list
        out = pod_exec(c, "client", "nslookup kubernetes.default.svc.cluster.local", namespace=NS, timeout=60)
        assert get_json(c, "svc", "kubernetes", "-n", "default")["spec"]["clusterIP"] in out
        assert connects(c, "stranger", url), "a pod the egress policy does not select is unaffected"
    finally:
        c.kctl("delete", "netpol", "deny-egress", "-n", NS)
    wait_for(lambda: connects(c, "client", url), 5, "the client to connect again once the policy is gone")
