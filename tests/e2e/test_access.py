"""End to end on a runc cluster with `--authorization-mode Node,RBAC`: access control is real.

* a pod's default ServiceAccount token, sent by curl inside the pod to
  https://kubernetes.default.svc (certificate verified against the pod's ca.crt), is refused
  (403) until a RoleBinding grants `view`, then lists the namespace's pods;
* a kubelet's identity (node-1's client certificate) reads the Secret of its own pod but not
  the Secret referenced only by a pod on another node, nor all Secrets;
* a client without certificate or token is anonymous and refused; an unknown token is 401.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from kubelite.api import Secret
from kubelite.api.errors import Forbidden
from kubelite.client import ApiClient
from kubelite.client.tls import ClientTLS
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from tests.e2e.cluster import LocalCluster, wait_for
from tests.e2e.curlimage import push_curl_image

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

NS = "access"
CALLER = f"""
apiVersion: v1
kind: Pod
metadata: {{name: caller, namespace: {NS}}}
spec:
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
"""
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Inside the pod, with its own token and ca.crt: curl verifies the apiserver's certificate for the
# DNS name kubernetes.default.svc (resolved by the cluster DNS, DNATed by the node's proxy).
CURL = (f'curl -sS --max-time 10 --cacert {SA_DIR}/ca.crt -H "Authorization: Bearer $(cat {SA_DIR}/token)" '
        f"-w '\\n%{{http_code}}' https://kubernetes.default.svc/api/v1/namespaces/{NS}/pods")
VIEW = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: default-view, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects:
- {{kind: ServiceAccount, name: default, namespace: {NS}}}
"""


def secret_pod(name: str, node: str, secret: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: {secret}}}
stringData: {{k: v}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    env:
    - name: S
      valueFrom: {{secretKeyRef: {{name: {secret}, key: k}}}}
"""


def https(c: LocalCluster, path: str, token: str = "", cert: str = "") -> tuple[int, dict[str, object]]:
    context = ssl.create_default_context(cafile=str(cert_path(c.plan.pki_dir, pki.CLUSTER_CA)))
    if cert:
        context.load_cert_chain(str(cert_path(c.plan.pki_dir, cert)), str(key_path(c.plan.pki_dir, cert)))
    request = urllib.request.Request(f"{c.plan.https_server}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_service_account_token_needs_a_rolebinding(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    eps = json.loads(c.kctl_ok("get", "endpoints", "kubernetes", "-o", "json"))
    assert eps["subsets"][0]["ports"][0]["port"] == c.plan.https_port  # pods reach the HTTPS API
    c.kctl_ok("create", "namespace", NS)
    wait_for(lambda: c.kctl("get", "sa", "default", "-n", NS).returncode == 0, 60, "the default ServiceAccount")
    assert c.plan.registry, "the runc cluster has no registry to push the curl image to"
    c.kctl_ok("apply", "-f", "-", input=CALLER.replace("IMAGE", push_curl_image(c.plan.registry)))
    wait_for(lambda: "Running" in c.kctl("get", "pod", "caller", "-n", NS).stdout, 90, "the caller pod to run")

    def call() -> tuple[int, dict[str, object]]:
        r = c.kctl("exec", "-n", NS, "caller", "--", "sh", "-c", CURL, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr  # TLS verified: curl fails (exit 60) otherwise
        body, _, code = r.stdout.rpartition("\n")
        return int(code), json.loads(body)

    code, status = call()
    assert code == 403 and status["reason"] == "Forbidden", status
    # The verification is real: the same certificate for a name it was not issued to is refused.
    wrong = c.kctl("exec", "-n", NS, "caller", "--", "sh", "-c",
                   f"curl -sS --max-time 10 --cacert {SA_DIR}/ca.crt --resolve not-the-apiserver:443:10.96.0.1 "
                   "https://not-the-apiserver/version", timeout=60)
    assert wrong.returncode != 0 and "not-the-apiserver" in wrong.stdout + wrong.stderr, wrong
    assert f'User "system:serviceaccount:{NS}:default" cannot list resource "pods"' in str(status["message"])
    c.kctl_ok("apply", "-f", "-", input=VIEW)

    def listed() -> dict[str, object] | None:
        code, body = call()
        return body if code == 200 else None

    pods = wait_for(listed, 30, "the pod list once `view` is bound")
    assert pods["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in pods["items"]] == ["caller"]  # type: ignore[attr-defined]


def test_kubelet_reads_only_its_own_pods_secrets(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    c.kctl_ok("apply", "-f", "-", input=secret_pod("mine", "node-1", "s-one"))
    c.kctl_ok("apply", "-f", "-", input=secret_pod("theirs", "node-2", "s-two"))
    tls = ClientTLS(str(cert_path(c.plan.pki_dir, pki.CLUSTER_CA)),
                    str(cert_path(c.plan.pki_dir, pki.kubelet_client("node-1"))),
                    str(key_path(c.plan.pki_dir, pki.kubelet_client("node-1"))))

    async def check() -> None:
        node = ApiClient.connect(c.server, credentials=tls.credentials())
        try:
            assert (await node.get(Secret, "s-one", "default")).metadata.name == "s-one"
            with pytest.raises(Forbidden, match="no relationship found between node 'node-1'"):
                await node.get(Secret, "s-two", "default")
            with pytest.raises(Forbidden):
                await node.list(Secret, "default")
        finally:
            await node.close()

    asyncio.run(check())
    # The same identity over HTTPS (client certificate on the secure port).
    assert https(c, "/api/v1/namespaces/default/secrets/s-one", cert=pki.kubelet_client("node-1"))[0] == 200
    assert https(c, "/api/v1/namespaces/default/secrets/s-two", cert=pki.kubelet_client("node-1"))[0] == 403
    # Both pods run: each kubelet could read its own pod's Secret through its per-object watch.
    for pod in ("mine", "theirs"):
        wait_for(lambda pod=pod: "Running" in c.kctl("get", "pod", pod).stdout, 90, f"{pod} to run")  # type: ignore[misc]


def test_anonymous_and_unknown_clients_are_refused(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    assert https(c, "/version")[0] == 200  # public info: anyone
    code, status = https(c, "/api/v1/namespaces/default/pods")
    assert code == 403 and status["reason"] == "Forbidden", status
    assert 'User "system:anonymous"' in str(status["message"])
    code, status = https(c, "/api/v1/namespaces/default/pods", token="not-a-token")
    assert (code, status["reason"]) == (401, "Unauthorized")
    assert https(c, "/api/v1/namespaces/default/pods", cert=pki.ADMIN)[0] == 200


# Plain listeners allowed off loopback, and why: the cluster DNS answers DNS (port 53) to every
# pod; the image registry serves images over plain HTTP on the host bridge (kubelets pull from it).
PLAIN_BY_DESIGN = {("dns", 53), ("registry", None)}


def test_no_plain_listener_off_loopback(runc_cluster: LocalCluster) -> None:
    """Issue 13: plain endpoints only on loopback -- every other listening port speaks TLS."""
    from kubelite.localcluster import load_state
    from kubelite.procs import is_same_process_alive
    from tests.e2e.listeners import listeners, tls_answers

    _, processes = load_state(runc_cluster.data_dir)
    found = [sock for p in processes if is_same_process_alive(p.pid, p.start_ticks)
             for sock in listeners(p.name, p.pid)]
    names = {sock.process.partition("-")[0] if sock.process.startswith("kvstore") else sock.process for sock in found}
    assert {"apiserver", "kvstore", "kubelet-node-1", "proxy-node-1", "scheduler"} <= names, sorted(names)
    exposed = [s for s in found if not s.loopback_only
               and (s.process, s.port) not in PLAIN_BY_DESIGN and (s.process, None) not in PLAIN_BY_DESIGN]
    assert any(s.process.startswith("kubelet-") for s in exposed), "the kubelet API should be reachable (TLS)"
    health = ("kubelet-node-1", "proxy-node-1", "apiserver", "scheduler", "controller-manager")
    tls = asyncio.run(tls_answers([s for s in found if s in exposed or (s.process in health and s.loopback_only)]))
    plain = [s for s in exposed if not tls[s]]
    assert plain == [], f"plain (non-TLS) listeners reachable off loopback: {plain}"
    # The health endpoints that are plain really are on loopback (the kubelet's and proxy's in their node).
    for name in health:
        loopback = [s for s in found if s.process == name and s.loopback_only]
        assert loopback and not any(tls[s] for s in loopback), (name, loopback)


def test_kubelite_status_reaches_the_health_endpoints_in_node_namespaces(runc_cluster: LocalCluster) -> None:
    """Kubelet and proxy health listen on their node namespace's loopback; `kubelite status` still sees them."""
    r = subprocess.run([sys.executable, "-m", "kubelite.main", "status", "--data-dir", str(runc_cluster.data_dir)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[2:] if line.strip()}
    for name in ("kubelet-node-1", "proxy-node-1", "kubelet-node-2"):
        cols = rows[name].split()  # COMPONENT STATE PID RESTARTS LAST-EXIT... HEALTH
        assert cols[1] == "Running" and cols[-1] == "ready", r.stdout
