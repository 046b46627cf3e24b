"""`kubelite down`'s half of the runc runtime: remove what a stopped kubelet left running.

Why apart from the runtime: runc containers outlive their kubelet (conmon is their
parent), so tearing a node down means re-adopting its state with a runtime of its
own and removing everything, then the now empty cgroup parent; the runtime
module itself is about one kubelet's live pods.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from kubelet.runc.records import CGROUP_ROOT, ImageLike, PodNetwork
from kubelet.runc.runtime import RuncRuntime
from kubelet.runtime import CreateContainerError


async def cleanup_node(state_dir: Path, network: PodNetwork | None = None, cgroup_parent: str = "kubelite",
                       timeout: float = 0.0) -> None:
    """Remove every container and sandbox a (stopped) kubelet left under `state_dir`, and its
    cgroup parent: what `kubelite down` needs, since runc containers outlive their kubelet."""

    async def no_images(ref: str) -> ImageLike:
        raise CreateContainerError(f"cleanup only: cannot resolve image {ref!r}")

    if not state_dir.is_dir():
        return
    runtime = RuncRuntime(state_dir, no_images, network, cgroup_parent=cgroup_parent)
    await runtime.start()
    try:
        await runtime.remove_all(timeout)
    finally:
        await runtime.shutdown(0)
    parts = runtime.cgroup_parent.split("/")
    for depth in range(len(parts), 0, -1):  # kubelite/node-1, then kubelite if empty
        for ctrl in (p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()):
            with contextlib.suppress(OSError):
                (ctrl / "/".join(parts[:depth])).rmdir()
