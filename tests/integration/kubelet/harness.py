"""One way to run a real Kubelet in a test: against the `control_plane` fixture's apiserver, on
a node of the test's own, with the quick node loops tests need (status every second, a 4 s
Lease renewed every second), stopped and its client closed afterwards.

Why shared: every kubelet integration module started, awaited and stopped a Kubelet the
same way; what differs between them (runtime, resync periods, back-offs, image service) is
passed in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kubelet.agent import Kubelet, KubeletConfig
from kubelet.image_pulls import ImageService
from kubelet.process_runtime import ProcessRuntime
from kubelet.runtime import Runtime
from kubelite.client import ApiClient


@asynccontextmanager
async def kubelet_on(server: str, data_dir: Path, node: str, node_ip: str, *, runtime: Runtime | None = None,
                     images: ImageService | None = None, before_start: Callable[[Kubelet], None] | None = None,
                     leftovers: Callable[[], list[int]] | None = None, **config: Any) -> AsyncIterator[Kubelet]:
    """A started, ready Kubelet for `node`; `config`: KubeletConfig fields beyond the defaults here
    (e.g. resync_seconds); `before_start` tunes it (back-offs) before it starts; `leftovers` lists
    container processes that must be gone once it stopped."""
    client = ApiClient.connect(server)
    settings: dict[str, Any] = {"node_status_seconds": 1.0, "lease_duration_seconds": 4, **config}
    kubelet = Kubelet(client, runtime or ProcessRuntime(),
                      KubeletConfig(node_name=node, node_ip=node_ip, listen=f"{node_ip}:0", data_dir=data_dir,
                                    **settings),
                      images=images)
    if before_start is not None:
        before_start(kubelet)
    try:
        await kubelet.start()
        await asyncio.wait_for(kubelet.wait_ready(), 20)
        yield kubelet
    finally:
        await kubelet.stop()
        await client.close()
    if leftovers is not None:
        assert not leftovers(), "the kubelet left container processes behind"
