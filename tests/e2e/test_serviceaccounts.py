"""End to end on a runc cluster: every pod gets its ServiceAccount token and reaches the API
through the `kubernetes` Service; `kctl create token` issues tokens; a missing ServiceAccount
is refused at admission."""

from __future__ import annotations

import json

import pytest

from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
POD = f"""
apiVersion: v1
kind: Pod
metadata: {{name: sa-reader}}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo ns=$(cat {DIR}/namespace); echo token=$(cat {DIR}/token);
      echo api=$(wget -T 5 -O /dev/null http://10.96.0.1:443/ 2>&1 | tail -1); sleep 3600"]
"""


def test_pod_has_its_token_and_reaches_the_api_service(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    svc = json.loads(c.kctl_ok("get", "svc", "kubernetes", "-o", "json"))
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    assert "default" in c.kctl_ok("get", "sa")
    c.kctl_ok("apply", "-f", "-", input=POD)

    def printed() -> str | None:
        out = c.kctl("logs", "sa-reader").stdout
        return out if "api=" in out else None

    out = wait_for(printed, 90, "the pod to print its token and reach 10.96.0.1:443")
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert lines["ns"] == "default" and lines["token"].count(".") == 2, out
    # The apiserver speaks gRPC, so wget's HTTP/1.1 request fails -- but only after connecting.
    assert not any(s in lines["api"] for s in ("can't connect", "timed out", "No route", "refused")), out

    token = c.kctl_ok("create", "token", "default", "--duration", "10m").strip()
    assert token.count(".") == 2
    refused = c.kctl(
        "apply", "-f", "-", input=POD.replace("sa-reader", "lost").replace(
            "spec:\n", "spec:\n  serviceAccountName: ghost\n", 1))
    assert refused.returncode != 0 and 'serviceaccount "ghost" not found' in refused.stderr
