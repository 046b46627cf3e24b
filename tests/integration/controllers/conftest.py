"""Fixtures of the controller integration tests: `manager`, a ControllerManager with every
controller on the shared `control_plane`, stopped after the test (modules that need a subset or
tuned controllers define their own `manager`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controllers.manager import ControllerManager


@pytest.fixture
async def manager(control_plane: Any) -> AsyncIterator[ControllerManager]:
    cm = ControllerManager(control_plane.client)
    await cm.start()
    try:
        yield cm
    finally:
        await cm.stop()
