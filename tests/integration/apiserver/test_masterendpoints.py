"""The `default/kubernetes` Service and Endpoints the apiserver keeps: a pass that finds both in
place in the watch caches touches nothing; one that finds its address gone puts it back."""

from __future__ import annotations

import asyncio
import json

import pytest

from apiserver import storage
from apiserver.masterendpoints import SERVICE_NAME, SERVICE_NAMESPACE, MasterEndpointReconciler
from tests.integration.controlplane import ControlPlane
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def test_reconcile_skips_the_store_when_in_place_and_restores_a_removed_address(
        control_plane: ControlPlane) -> None:
    service = control_plane.apiserver.service
    reconciler = MasterEndpointReconciler(service, "10.9.9.9", 6443)
    await reconciler.reconcile()
    await eventually(lambda: asyncio.sleep(0, reconciler.in_place()), "the caches to hold the Service and address")
    rv = json.loads(await service.get("endpoints", SERVICE_NAMESPACE, SERVICE_NAME))["metadata"]["resourceVersion"]

    await reconciler.reconcile()  # in place: nothing written
    current = json.loads(await service.get("endpoints", SERVICE_NAMESPACE, SERVICE_NAME))
    assert current["metadata"]["resourceVersion"] == rv

    current["subsets"] = []  # someone removed this apiserver's address
    await service.update("endpoints", SERVICE_NAMESPACE, SERVICE_NAME, storage.dump(current))
    await eventually(lambda: asyncio.sleep(0, not reconciler.in_place()), "the cache to see the address gone")
    await reconciler.reconcile()
    restored = json.loads(await service.get("endpoints", SERVICE_NAMESPACE, SERVICE_NAME))
    assert restored["subsets"][0]["addresses"] == [{"ip": "10.9.9.9"}]
