"""Fixtures for the runc runtime tests: a tiny busybox image and a runtime with its own
state dir, runc root and cgroup parent, checked for leftovers after every test."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubelet.runc import RuncRuntime, available
from kubelet.runc.overlay import mounts_under

BUSYBOX = Path("/bin/busybox")
REASON = available()
if REASON is None and not BUSYBOX.exists():
    REASON = "/bin/busybox (busybox-static) is not installed"

pytestmark = pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")


@dataclass(frozen=True)
class FakeImageConfig:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=lambda: ["sh"])
    env: list[str] = field(default_factory=lambda: ["PATH=/bin", "FROM_IMAGE=yes"])
    working_dir: str = ""
    user: str = ""


@dataclass(frozen=True)
class FakeImage:
    layer_dirs: list[Path]
    config: FakeImageConfig


def build_busybox_layer(dest: Path) -> Path:
    """A one-layer busybox root filesystem (like the image the cluster registry serves)."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            (dest / "bin" / name).symlink_to("busybox")
    for d in ("etc", "tmp", "proc", "sys", "dev", "root", "home/app"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
    return dest


@pytest.fixture(scope="session")
def busybox_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox_layer(tmp_path_factory.mktemp("layer") / "busybox")


def runc_list(root: Path) -> list[str]:
    if not root.exists():
        return []
    out = subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True).stdout
    return out.split()


def cgroup_children(parent: str) -> list[str]:
    found = []
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        d = ctrl / parent
        if d.is_dir():
            found += [f"{ctrl.name}/{p.name}" for p in d.iterdir() if p.is_dir()]
    return found


def remove_cgroup_parent(parent: str) -> None:
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        d = ctrl / parent
        if d.is_dir():
            d.rmdir()


class Env:
    def __init__(self, base: Path, layer: Path) -> None:
        self.base = base
        self.layer = layer
        self.state = base / "state"
        self.cgroup_parent = f"kubelite-test-{os.getpid()}-{base.name[-12:]}"
        self.images: dict[str, FakeImage] = {"busybox": FakeImage([layer], FakeImageConfig())}
        self.runtimes: list[RuncRuntime] = []

    async def resolve(self, ref: str) -> FakeImage:
        return self.images[ref]

    async def runtime(self, **kw: Any) -> RuncRuntime:
        rt = RuncRuntime(self.state, self.resolve, cgroup_parent=self.cgroup_parent, poll_interval=0.05, **kw)
        await rt.start()
        self.runtimes.append(rt)
        return rt


@pytest.fixture
async def env(tmp_path: Path, busybox_layer: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path, busybox_layer)
    try:
        yield e
    finally:
        if e.runtimes:
            last = e.runtimes[-1]
            if not last._exits.running:
                # A Kubelet's stop shut it down (runc containers outlive a kubelet, for the next one
                # to adopt): it sees no exits any more, so each SIGKILL of remove_all would wait
                # KILL_WAIT (10 s) for an exit it cannot see. Clean up as the next kubelet would,
                # through a runtime that re-adopts what is left.
                last = await e.runtime()
            await last.remove_all(0)
            for rt in e.runtimes:
                await rt.shutdown(0)
        leftovers = {
            "mounts": mounts_under(tmp_path),
            "runc": runc_list(e.state / "runc"),
            "cgroups": cgroup_children(e.cgroup_parent),
        }
        # Best-effort cleanup even when the assertion below fails.
        for c in leftovers["runc"]:
            subprocess.run(["runc", "--root", str(e.state / "runc"), "delete", "--force", c], capture_output=True)
        for m in sorted(leftovers["mounts"], key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        await asyncio.sleep(0)
        try:
            remove_cgroup_parent(e.cgroup_parent)
        except OSError:
            pass
        assert leftovers == {"mounts": [], "runc": [], "cgroups": []}, f"leftovers: {leftovers}"
