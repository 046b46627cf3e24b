"""A real Debian `docker-registry` per test on a free loopback port, stopped afterwards."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kubelite.registry import LocalRegistry, start_registry, stop_registry

StartRegistry = Callable[..., Awaitable[LocalRegistry]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def registry_factory(tmp_path: Path) -> AsyncIterator[StartRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (Debian package docker-registry)")
    started: list[LocalRegistry] = []

    async def start(**kwargs: object) -> LocalRegistry:
        directory = tmp_path / f"registry-{len(started)}"
        reg = await start_registry(directory, f"127.0.0.1:{free_port()}", reuse=False, **kwargs)  # type: ignore[arg-type]
        started.append(reg)
        return reg

    try:
        yield start
    finally:
        for reg in started:
            await stop_registry(reg, grace=5)
