"""The HorizontalPodAutoscaler over a real apiserver: the scale subresource over gRPC, the controller's
bounds and conditions, and autoscaling/v1 served over HTTP by conversion (what real kubectl autoscale uses).

Metrics need kubelets, so the metric-driven scaling is the e2e's (tests/e2e/test_autoscaling.py); here
the metrics API answers with no pods, which the controller must report rather than act on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controllers.manager import ControllerManager
from kubelite.api import Deployment, Event
from kubelite.api.autoscaling import HorizontalPodAutoscaler
from tests.integration.controllers.helpers import deployment
from tests.integration.controlplane import ControlPlane, running_control_plane
from tests.polling import eventually

pytestmark = pytest.mark.integration

HPA_V1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                   "minReplicas": 3, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60}}


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with running_control_plane(tmp_path, http_listen="127.0.0.1:0") as p:  # type: ignore[arg-type]
        yield p


async def test_scale_subresource_over_grpc(plane: ControlPlane) -> None:
    await plane.client.create(deployment("web", 2))
    [scale] = await plane.client.read_unstored("deployments/scale", "default", "web")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=web"
    await plane.client.update_subresource_raw("deployments", "scale", {**scale, "spec": {"replicas": 4}}, "default")
    got = await plane.client.get(Deployment, "web")
    assert got.spec.replicas == 4 and got.spec.template.spec.containers[0].name == "main"


async def test_controller_enforces_bounds_and_reports_missing_metrics(plane: ControlPlane) -> None:
    await plane.client.create(deployment("web", 1))
    await plane.client.create_raw("horizontalpodautoscalers", HPA_V1, "default")
    cm = ControllerManager(plane.client, ["horizontalpodautoscaling"], hpa_sync_seconds=0.3)
    await cm.start()
    try:
        async def scaled() -> int | None:
            replicas = (await plane.client.get(Deployment, "web")).spec.replicas
            return replicas if replicas == 3 else None
        await eventually(scaled, "the HPA to raise web to minReplicas")

        async def reported() -> HorizontalPodAutoscaler | None:
            hpa = await plane.client.get(HorizontalPodAutoscaler, "web")
            conds = {c.type: c for c in hpa.status.conditions}
            active = conds.get("ScalingActive")
            return hpa if active is not None and active.status == "False" and hpa.status.current_replicas == 3 \
                else None
        hpa = await eventually(reported, "the HPA to report that it has no metrics")
        conds = {c.type: c for c in hpa.status.conditions}
        assert conds["ScalingActive"].reason == "FailedGetResourceMetric"
        assert conds["AbleToScale"].status == "True"
        assert (await plane.client.get(Deployment, "web")).spec.replicas == 3  # no metrics: no change

        async def rescale_event() -> Event | None:
            events = (await plane.client.list(Event, "default")).items
            return next((e for e in events if e.reason == "SuccessfulRescale"), None)
        event = await eventually(rescale_event, "a SuccessfulRescale event")
        assert event.message == "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
    finally:
        await cm.stop()


async def test_autoscaling_v1_over_http(plane: ControlPlane) -> None:
    base = f"{plane.apiserver.http.url}/apis/autoscaling"
    path = "namespaces/default/horizontalpodautoscalers"
    async with aiohttp.ClientSession() as http:
        async def call(method: str, url: str, body: Any = None, content_type: str = "application/json",
                       ) -> tuple[int, Any]:
            data = None if body is None else json.dumps(body)
            async with http.request(method, url, data=data, headers={"Content-Type": content_type}) as r:
                return r.status, await r.json()

        status, group = await call("GET", base)
        assert status == 200 and [v["version"] for v in group["versions"]] == ["v2", "v1"]
        assert group["preferredVersion"]["version"] == "v2"
        status, resources = await call("GET", f"{base}/v1")
        assert "horizontalpodautoscalers" in [r["name"] for r in resources["resources"]]
        status, created = await call("POST", f"{base}/v1/{path}", HPA_V1)
        assert status == 201 and created["apiVersion"] == "autoscaling/v1"
        assert created["spec"]["targetCPUUtilizationPercentage"] == 60
        status, stored = await call("GET", f"{base}/v2/{path}/web")
        assert stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
        status, patched = await call("PATCH", f"{base}/v1/{path}/web", {"spec": {"targetCPUUtilizationPercentage": 70}},
                                     "application/merge-patch+json")
        assert status == 200 and patched["spec"]["targetCPUUtilizationPercentage"] == 70
        status, listed = await call("GET", f"{base}/v1/{path}")
        assert listed["kind"] == "HorizontalPodAutoscalerList" and listed["apiVersion"] == "autoscaling/v1"
        assert [i["spec"]["targetCPUUtilizationPercentage"] for i in listed["items"]] == [70]
        bad = {**HPA_V1, "metadata": {"name": "bad"}, "apiVersion": "autoscaling/v2",
               "spec": {**HPA_V1["spec"], "metrics": [{"type": "External", "external": {}}]}}  # type: ignore[dict-item]
        del bad["spec"]["targetCPUUtilizationPercentage"]
        status, refused = await call("POST", f"{base}/v2/{path}", bad)
        assert status == 422 and refused["details"]["causes"][0]["field"] == "spec.metrics[0].type"
