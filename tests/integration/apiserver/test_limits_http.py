"""The same limits over the Kubernetes HTTP API (it shares the typed core with gRPC):
bounds are 422s naming the field, quota refusals 403 Forbidden, deep JSON a 400."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apiserver.server import ApiServer
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl
from tests.integration.httpapi import running_http_apiserver

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with running_http_apiserver(tmp_path) as server:
        yield server


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


async def test_limits_over_http(api: ApiServer) -> None:
    base = f"{api.http.url}/api/v1/namespaces/default"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{api.http.url}/apis/apps/v1/namespaces/default/deployments",
                                json=deployment(2**31)) as resp:
            status = await resp.json()
        assert (resp.status, status["reason"]) == (422, "Invalid")
        assert status["details"]["causes"][0]["field"] == "spec.replicas"
        assert "must be less than or equal to 2147483647" in status["message"]

        quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "one"},
                 "spec": {"hard": {"pods": "1"}}}
        async with session.post(f"{base}/resourcequotas", json=quota) as resp:
            assert resp.status == 201
        # Admission reads quotas from the watch cache (as Kubernetes' informer does): wait until the
        # cache -- what a List at resourceVersion=0 answers from -- holds the new quota.
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            async with session.get(f"{base}/resourcequotas?resourceVersion=0") as resp:
                if [q["metadata"]["name"] for q in (await resp.json())["items"]] == ["one"]:
                    break
            assert asyncio.get_running_loop().time() < deadline, "the quota never reached the watch cache"
            await asyncio.sleep(0.05)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        async with session.post(f"{base}/pods", json=pod) as resp:
            assert resp.status == 201
        async with session.post(f"{base}/pods", json={**pod, "metadata": {"name": "b"}}) as resp:
            status = await resp.json()
        assert (resp.status, status["reason"]) == (403, "Forbidden")
        assert status["message"] == ('pods "b" is forbidden: exceeded quota: one, requested: pods=1, used: pods=1, '
                                     "limited: pods=1")
        async with session.get(f"{base}/resourcequotas/one") as resp:
            assert (await resp.json())["status"]["used"] == {"pods": "1"}

        deep = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":' \
            + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"
        async with session.post(f"{base}/configmaps", data=deep,
                                headers={"Content-Type": "application/json"}) as resp:
            status = await resp.json()
        assert (resp.status, status["reason"]) == (400, "BadRequest"), status
        assert "nested too deeply" in status["message"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_real_kubectl_sees_quota_and_bounds(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "one"}, "spec": {"hard": {"pods": "1"}}}
    await kubectl.run("apply", "-f", "-", stdin=json.dumps(quota))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await kubectl.run("apply", "-f", "-", stdin=json.dumps(pod))
    refused = await kubectl.run("apply", "-f", "-", stdin=json.dumps({**pod, "metadata": {"name": "b"}}), ok=False)
    assert 'pods "b" is forbidden: exceeded quota: one, requested: pods=1, used: pods=1, limited: pods=1' in refused
    assert "pods: 1/1" in await kubectl.run("get", "quota")
    refused = await kubectl.run("apply", "-f", "-", stdin=json.dumps(deployment(2**31)), ok=False)
    assert "spec.replicas" in refused and "2147483647" in refused, refused
