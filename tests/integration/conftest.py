"""Fixtures shared by every integration test: `control_plane` (kvstore + apiserver + client) and
`manager`, a ControllerManager with every controller on it, stopped after the test (modules that need
a subset or tuned controllers define their own `manager`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controllers.manager import ControllerManager
from tests.integration.controlplane import ControlPlane, running_control_plane


@pytest.fixture
async def control_plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with running_control_plane(tmp_path) as plane:
        yield plane


@pytest.fixture
async def manager(control_plane: ControlPlane) -> AsyncIterator[ControllerManager]:
    cm = ControllerManager(control_plane.client)
    await cm.start()
    try:
        yield cm
    finally:
        await cm.stop()
