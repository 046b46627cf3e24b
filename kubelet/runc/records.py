"""What the runc runtime keeps about containers, and what it needs from its collaborators.

Why apart from the runtime: the records (persisted as JSON next to each
container so a restarted kubelet can re-adopt it) and the small protocols for
the image store and the pod network are plain data and contracts; the runtime
module keeps the behaviour.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubelet.runc import bundle, conmon
from kubelet.runtime import ContainerState, ContainerStatus, PodSandboxConfig

CGROUP_ROOT = Path("/sys/fs/cgroup")


class ImageConfigLike(Protocol):
    @property
    def entrypoint(self) -> list[str]: ...
    @property
    def cmd(self) -> list[str]: ...
    @property
    def env(self) -> list[str]: ...
    @property
    def working_dir(self) -> str: ...
    @property
    def user(self) -> str: ...


class ImageLike(Protocol):
    """What the runtime needs of `kubelet.images.Image`."""

    @property
    def layer_dirs(self) -> list[Path]: ...
    @property
    def config(self) -> ImageConfigLike: ...


ImageResolver = Callable[[str], Awaitable[ImageLike]]
"""Image reference -> the unpacked local image (the kubelet pulled it before create)."""


class PodNetwork(Protocol):
    """What the runtime needs of `kubelet.cni.CniNetwork`."""

    async def add(self, container_id: str, netns_path: str, ifname: str = "eth0",
                  port_mappings: Sequence[Any] = (), pod_name: str = "", pod_namespace: str = "",
                  loopback: bool = True) -> str:
        """Attach the netns to the pod network; `port_mappings` are `kubelet.runtime.PortMapping`s;
        `loopback=False` when `lo` is already up in it."""
        ...

    async def delete(self, container_id: str, netns_path: str, ifname: str = "eth0") -> None: ...


@dataclass
class ContainerRecord:
    id: str
    dir: Path
    status: ContainerStatus
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    # In memory only, between `runc create` (create_container) and `runc start`: the process
    # conmon reported, or why `runc create` failed (shown by start_container as a StartError).
    created_pid: int = 0
    create_error: str = ""
    create_ms: float = 0.0

    @property
    def sandbox_id(self) -> str:
        return self.status.sandbox_id

    def save(self) -> None:
        s = self.status
        doc = {"id": s.id, "sandbox_id": s.sandbox_id, "name": s.name, "image": s.image, "attempt": s.attempt,
               "log_path": str(s.log_path or ""), "created_at": s.created_at, "started_at": s.started_at,
               "state": s.state.value, "exit_code": s.exit_code, "reason": s.reason, "message": s.message,
               "finished_at": s.finished_at}
        tmp = self.dir / "meta.json.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.dir / "meta.json")

    @classmethod
    def load(cls, directory: Path) -> ContainerRecord:
        d: dict[str, Any] = json.loads((directory / "meta.json").read_text())
        status = ContainerStatus(
            id=str(d["id"]), sandbox_id=str(d["sandbox_id"]), name=str(d["name"]), image=str(d["image"]),
            attempt=int(d["attempt"]), state=ContainerState(d.get("state", "created")),
            created_at=float(d.get("created_at", 0.0)), started_at=d.get("started_at"),
            exit_code=d.get("exit_code"), reason=str(d.get("reason", "")), message=str(d.get("message", "")),
            finished_at=d.get("finished_at"), log_path=Path(d["log_path"]) if d.get("log_path") else None,
        )
        return cls(status.id, directory, status)


def available(runc: str = "runc", conmon_bin: str = "conmon") -> str | None:
    """None when this machine can run the runc runtime, else why not (for the operator)."""
    if os.geteuid() != 0:
        return "not running as root"
    for tool in (runc, conmon_bin):
        if shutil.which(tool) is None:
            return f"{tool!r} not found on PATH"
    if not (CGROUP_ROOT / "memory").is_dir():
        return "cgroup v1 memory controller not mounted at /sys/fs/cgroup/memory"
    return None


def conmon_alive(cdir: Path) -> bool:
    pid = conmon.read_pid(cdir / "conmon.pid")
    if pid is None:
        return True  # not written yet: assume alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def image_process(image: ImageLike) -> bundle.ImageProcess:
    cfg = image.config
    return bundle.ImageProcess(list(cfg.entrypoint), list(cfg.cmd), list(cfg.env), cfg.working_dir, cfg.user)


def image_file(rootfs: Path, rel: str) -> str | None:
    """A file of the image (never following a symlink out of the rootfs)."""
    path = rootfs / rel
    if path.is_symlink():
        return None
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def blank_config() -> PodSandboxConfig:
    return PodSandboxConfig("", "", "", Path("/nonexistent"), Path("/nonexistent"))


def blank_status(cid: str) -> ContainerStatus:
    return ContainerStatus(cid, "", "", "", 0, ContainerState.EXITED)
