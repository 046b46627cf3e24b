"""Garbage collection across custom and built-in kinds (the controller-manager follows the CRDs)."""

from __future__ import annotations

import pytest

from controllers.manager import ControllerManager
from kubelite.api.errors import NotFound
from tests.integration.controlplane import ControlPlane
from tests.integration.crd.greeting import GROUP, greeting, greeting_crd
from tests.integration.crd.test_crd_kctl import _established
from tests.polling import eventually

pytestmark = pytest.mark.integration
GREETINGS = f"greetings.{GROUP}"


@pytest.fixture
async def greeting_kind(control_plane: ControlPlane) -> None:
    await control_plane.client.create_raw("customresourcedefinitions", greeting_crd())
    await _established(control_plane)


@pytest.fixture
def manager(greeting_kind: None, manager: ControllerManager) -> ControllerManager:
    """The shared every-controller manager (tests/integration/conftest.py), started once the
    Greeting kind exists: pytest sets fixtures up in the order they are requested."""
    return manager


async def _gone(plane: ControlPlane, resource: str, name: str) -> bool:
    try:
        await plane.client.get_raw(resource, name, "default")
    except NotFound:
        return True
    return False


def _owned_by(owner: dict[str, object], kind: str, api_version: str) -> list[dict[str, object]]:
    meta = owner["metadata"]
    assert isinstance(meta, dict)
    return [{"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"]}]


async def test_dependents_of_a_custom_object_and_custom_dependents_are_collected(
        control_plane: ControlPlane, manager: ControllerManager) -> None:
    client = control_plane.client
    owner = await client.create_raw(GREETINGS, greeting("owner"), "default")
    await client.create_raw("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "owned", "ownerReferences": _owned_by(owner, "Greeting", f"{GROUP}/v1")}}, "default")
    cm_owner = await client.create_raw("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                      "metadata": {"name": "cm-owner"}}, "default")
    await client.create_raw(GREETINGS, {**greeting("dependent"), "metadata": {
        "name": "dependent", "ownerReferences": _owned_by(cm_owner, "ConfigMap", "v1")}}, "default")

    await client.delete_raw(GREETINGS, "owner", "default")
    await eventually(lambda: _gone(control_plane, "configmaps", "owned"), "the Greeting's ConfigMap to be collected",
                     timeout=20)
    await client.delete_raw("configmaps", "cm-owner", "default")
    await eventually(lambda: _gone(control_plane, GREETINGS, "dependent"),
                     "the ConfigMap's Greeting to be collected", timeout=20)
