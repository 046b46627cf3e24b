"""kctl autoscale, get/describe hpa, and apply of an autoscaling/v1 manifest against a real apiserver."""

from __future__ import annotations

import json

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.kubectl.test_kctl import Kctl, deployment

pytestmark = pytest.mark.integration

V1 = """apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: v1hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
  targetCPUUtilizationPercentage: %d
"""


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def test_autoscale_get_and_describe(kctl: Kctl) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web"))
    out = await kctl.ok("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=5")
    assert out == "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    header, row = (await kctl.ok("get", "hpa")).splitlines()
    assert header.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row.split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "5", "0"]
    described = await kctl.ok("describe", "hpa", "web")
    assert "Reference:" in described and "resource cpu on pods  (as a percentage of request):" in described
    assert "<unknown> / 50%" in described and "Min replicas:" in described
    refused = await kctl("autoscale", "deployment", "web", "--max=0")
    assert refused.code == 1 and "--max=MAXPODS is required" in refused.err
    refused = await kctl("autoscale", "configmap", "x", "--max=2")
    assert refused.code == 1 and "cannot autoscale a ConfigMap" in refused.err


async def test_apply_of_a_v1_manifest_is_stored_as_v2_and_reapplies_quietly(kctl: Kctl) -> None:
    assert "created" in await kctl.ok("apply", "-f", "-", stdin=V1 % 70)
    assert "unchanged" in await kctl.ok("apply", "-f", "-", stdin=V1 % 70)
    assert "configured" in await kctl.ok("apply", "-f", "-", stdin=V1 % 75)
    stored = json.loads(await kctl.ok("get", "hpa", "v1hpa", "-o", "json"))
    assert stored["apiVersion"] == "autoscaling/v2"
    assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}]
