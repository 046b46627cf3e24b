"""Fixtures shared by every integration test: `control_plane` (kvstore + apiserver + client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.controlplane import ControlPlane, running_control_plane


@pytest.fixture
async def control_plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with running_control_plane(tmp_path) as plane:
        yield plane
