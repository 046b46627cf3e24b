"""End to end: Ingresses served by real nginx on every node's IP, and LoadBalancer Services (issue 17, parts 2-3).

A 3-node runc cluster; two busybox httpd Deployments answer with their own
name. Everything is checked from the host, as an outside client: requests to a
node IP with a Host header, the certificate a TLS host presents, requests that
keep flowing while an Ingress changes, and a broken Ingress that must not
disturb the others.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.cluster import LocalCluster, wait_for
from tests.e2e.svchelpers import apply, wait_ready

pytestmark = pytest.mark.requires_root("runc containers, node network namespaces and nginx on node IPs")

APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 1
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "for d in /www /www/a /www/b /www/c; do mkdir -p $d; echo NAME > $d/index.html; done;
                  exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: NAME}
spec:
  selector: {app: NAME}
  ports: [{name: http, port: 80, targetPort: http}]
"""

ROUTES = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: one}
spec:
  rules:
  - host: one.example.com
    http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: beta, port: {name: http}}}}
EXTRA
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: two}
spec:
  ingressClassName: nginx
  tls: [{hosts: [secure.example.com], secretName: secure-tls}]
  rules:
  - host: two.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
  - host: secure.example.com
    http:
      paths:
      - {path: /a/, pathType: Exact, backend: {service: {name: alpha, port: {number: 80}}}}
"""

BROKEN = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken}
spec:
  rules:
  - host: broken.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}
"""


def _get(ip: str, host: str, path: str, timeout: float = 3.0) -> tuple[int, str]:
    req = urllib.request.Request(f"http://{ip}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _served_cert_subject(ip: str, host: str) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, 443), timeout=5) as sock, ctx.wrap_socket(sock, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def routed(runc_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    c = runc_cluster
    for name in ("alpha", "beta"):
        apply(c, APPS.replace("NAME", name))
    tmp = Path(tmp_path_factory.mktemp("tls"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=secure.example.com/O=kubelite-e2e", "-keyout", str(tmp / "k"),
                    "-out", str(tmp / "c")], check=True, capture_output=True)
    c.kctl_ok("create", "secret", "tls", "secure-tls", "--cert", str(tmp / "c"), "--key", str(tmp / "k"))
    apply(c, ROUTES.replace("EXTRA", ""))
    for name in ("alpha", "beta"):
        wait_ready(c, f"app={name}", 1)
    assert c.plan.network is not None
    return [n.ip for n in c.plan.network.nodes]


def test_hosts_and_paths_route_to_the_right_service(runc_cluster: LocalCluster, routed: list[str]) -> None:
    ip = routed[0]
    wait_for(lambda: _get(ip, "one.example.com", "/a/") == (200, "alpha") or None, 60, "ingress one served")
    cases = [("one.example.com", "/a/", "alpha"), ("one.example.com", "/b/", "beta"),
             ("two.example.com", "/c/", "beta")]
    for host, path, want in cases:
        answers = [_get(routed[i % len(routed)], host, path) for i in range(50)]
        assert answers == [(200, want)] * 50, (host, path, answers[:3])
    assert _get(ip, "one.example.com", "/ab")[0] == 404  # Prefix matches whole path elements only
    assert _get(ip, "unknown.example.com", "/a/")[0] == 404


def test_ingress_status_lists_the_node_ips(runc_cluster: LocalCluster, routed: list[str]) -> None:
    def addresses() -> list[str] | None:
        obj = json.loads(runc_cluster.kctl_ok("get", "ingress", "one", "-o", "json"))
        ips = sorted(i.get("ip") for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", []))
        return ips if ips == sorted(routed) else None
    wait_for(addresses, 30, "every node's IP in the Ingress status")
    table = runc_cluster.kctl_ok("get", "ingress")
    assert "CLASS" in table and "one.example.com" in table and routed[0] in table


def test_tls_host_serves_its_secret_certificate(routed: list[str]) -> None:
    subject = wait_for(lambda: (s := _served_cert_subject(routed[1], "secure.example.com")) and
                       "secure.example.com" in s and s or None, 30, "the Secret's certificate served")
    assert "O = kubelite-e2e" in subject


def test_update_while_requests_flow_loses_none(runc_cluster: LocalCluster, routed: list[str]) -> None:
    ip = routed[2]
    wait_for(lambda: _get(ip, "one.example.com", "/a/") == (200, "alpha") or None, 30, "served before update")
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            results.append(_get(ip, "one.example.com", "/a/"))
    thread = threading.Thread(target=loop)
    thread.start()
    try:
        for i in range(3):
            want = ("beta", "alpha")[i % 2]
            extra = f"      - {{path: /c, pathType: Prefix, backend: {{service: {{name: {want}, port: {{number: 80}}}}}}}}"
            apply(runc_cluster, ROUTES.replace("EXTRA", extra))

            def switched(want: str = want) -> bool | None:
                return _get(ip, "one.example.com", "/c/") == (200, want) or None
            wait_for(switched, 30, f"/c/ routed to {want}")
    finally:
        stop.set()
        thread.join(10)
    assert len(results) >= 20
    assert [r for r in results if r != (200, "alpha")] == []


def test_missing_service_gets_an_event_and_others_keep_working(runc_cluster: LocalCluster,
                                                               routed: list[str]) -> None:
    apply(runc_cluster, BROKEN)
    def warned() -> str | None:
        out = runc_cluster.kctl_ok("get", "events", "--field-selector", "involvedObject.name=broken")
        return out if "ServiceNotFound" in out else None
    wait_for(warned, 30, "a ServiceNotFound event on the broken Ingress")
    assert _get(routed[0], "broken.example.com", "/")[0] == 503
    assert _get(routed[0], "one.example.com", "/b/") == (200, "beta")


LB = """
apiVersion: v1
kind: Service
metadata: {name: NAME}
spec:
  type: LoadBalancer
  selector: {app: alpha}
  ports: [{name: http, port: 8081, targetPort: http}]
"""


def _lb_ip(c: LocalCluster, name: str) -> str | None:
    obj = json.loads(c.kctl_ok("get", "svc", name, "-o", "json"))
    ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    return str(ingress[0]["ip"]) if ingress else None


def test_load_balancer_service_gets_a_pool_address_and_answers(runc_cluster: LocalCluster,
                                                               routed: list[str]) -> None:
    c = runc_cluster
    assert c.plan.network is not None
    pool = ipaddress.ip_network(f"10.88.{c.plan.network.net_id}.240/28")
    apply(c, LB.replace("NAME", "lb"))
    ip = wait_for(lambda: _lb_ip(c, "lb"), 30, "an address from the pool")
    assert ipaddress.ip_address(ip) in pool and ip not in routed
    assert ip in c.kctl_ok("get", "svc", "lb")  # EXTERNAL-IP column

    def answer() -> tuple[int, str]:
        with urllib.request.urlopen(f"http://{ip}:8081/", timeout=3) as resp:
            return resp.status, resp.read().decode().strip()
    wait_for(lambda: answer() == (200, "alpha") or None, 30, "the LoadBalancer address answers")
    assert [answer() for _ in range(100)] == [(200, "alpha")] * 100

    c.kctl_ok("delete", "svc", "lb")
    apply(c, LB.replace("NAME", "lb2"))
    assert wait_for(lambda: _lb_ip(c, "lb2"), 30, "an address for lb2") == ip  # the freed address is reused
    c.kctl_ok("patch", "svc", "lb2", "-p", '{"spec": {"type": "NodePort"}}')
    wait_for(lambda: _lb_ip(c, "lb2") is None or None, 30, "address released when the type changes")
