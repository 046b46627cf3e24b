"""Real kubectl on CertificateSigningRequests: create, get (table), approval through the raw subresource.

`kubectl certificate approve|deny` is not covered: kubectl sends that update as
protobuf, which kubelite's HTTP API does not speak (it answers 415 saying so).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiserver.server import ApiServer
from kubelite.api.certificates import kubelet_client_request
from kubelite.pki.certs import new_key
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl, api

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")]
__all__ = ["api"]


def manifest(name: str) -> str:
    return json.dumps({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                       "metadata": {"name": name},
                       "spec": {"request": kubelet_client_request("n1", new_key()),
                                "signerName": "example.com/manual", "usages": ["client auth"]}})


async def test_kubectl_creates_lists_and_approves_csrs(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    assert "created" in await kubectl.run("create", "-f", "-", stdin=manifest("one"))
    assert "created" in await kubectl.run("create", "-f", "-", stdin=manifest("two"))
    one = json.loads(await kubectl.run("get", "csr", "one", "-o", "json"))
    one["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "ByHand"}]}
    path = "/apis/certificates.k8s.io/v1/certificatesigningrequests/one/approval"
    await kubectl.run("replace", "--raw", path, "-f", "-", stdin=json.dumps(one))
    one = json.loads(await kubectl.run("get", "csr", "one", "-o", "json"))
    assert [c["type"] for c in one["status"]["conditions"]] == ["Approved"]
    table = await kubectl.run("get", "csr")
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert rows[0].split()[0] == "one" and rows[0].split()[-1] == "Approved"
    assert rows[1].split()[2:] == ["example.com/manual", "system:anonymous", "<none>", "Pending"]
    # kubectl sends this update as protobuf, which the apiserver reads.
    assert "approved" in await kubectl.run("certificate", "approve", "two")
    two = json.loads(await kubectl.run("get", "csr", "two", "-o", "json"))
    assert [c["type"] for c in two["status"]["conditions"]] == ["Approved"]
