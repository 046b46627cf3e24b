"""Run one RUN step in a runc container and return its filesystem changes.

Why the kubelet's pieces: the rootfs is the same overlay mount pods get
(`kubelet.runc.overlay`), the OCI spec comes from `kubelet.runc.bundle` (user
resolution, default capabilities and seccomp included), so a RUN step is exactly
as isolated as a pod container, and the overlay's upper dir *is* the step's diff.
Network: a private, empty network namespace unless the build asked for the host's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubelet.images.builder import LayerEntry
from kubelet.runc import bundle, overlay
from kubelet.runc.cli import Runc
from kubelet.runc.records import image_file
from kubelet.runtime import Mount, Security
from kubelite.build.fs import upper_entries

CGROUP_PARENT = "kubelite-build"


class StepError(Exception):
    """A RUN step could not be started (not: the command failed, that is an exit code)."""


@dataclass(frozen=True)
class RunSpec:
    argv: list[str]
    env: list[str]
    cwd: str
    user: str
    network: str  # "none" | "host"


@dataclass
class RunResult:
    exit_code: int
    entries: list[LayerEntry]
    tail: list[str]


def _spec(rootfs: Path, spec: RunSpec, cid: str) -> dict[str, object]:
    try:
        uid, gid, extra = bundle.resolve_user(spec.user, Security(), image_file(rootfs, "etc/passwd"),
                                              image_file(rootfs, "etc/group"))
    except bundle.UserError as exc:
        raise StepError(f"USER {spec.user}: {exc}") from None
    mounts = [Mount(f, f, readonly=True) for f in ("/etc/resolv.conf", "/etc/hosts")
              if spec.network == "host" and Path(f).exists()]
    doc = bundle.runtime_spec(bundle.SpecInputs(
        argv=spec.argv, env=spec.env, cwd=spec.cwd or "/", uid=uid, gid=gid, additional_gids=extra,
        cgroups_path=f"/{CGROUP_PARENT}/{cid}", mounts=mounts, hostname="kubelite-build"))
    linux = doc["linux"]
    if spec.network != "host":
        linux["namespaces"].append({"type": "network"})
    return doc


async def run_step(work: Path, layers: list[Path], spec: RunSpec, runc: Runc,
                   output: Callable[[str], None]) -> RunResult:
    """Run `spec` on an overlay of `layers`; `work` is a fresh directory removed afterwards."""
    if os.geteuid() != 0:
        raise StepError("RUN needs root (runc and overlayfs); run `kubelite build` as root")
    if not layers:
        raise StepError("RUN needs a base image with files (FROM scratch has no shell to run)")
    cid = "build-" + secrets.token_hex(8)
    rootfs, upper = work / "rootfs", work / "upper"
    tail: list[str] = []
    try:
        await asyncio.to_thread(overlay.mount_overlay, layers, upper, work / "ovl-work", rootfs)
        doc = _spec(rootfs, spec, cid)
        (work / "config.json").write_text(json.dumps(doc))
        proc = await asyncio.create_subprocess_exec(
            *runc.argv("run", "--bundle", str(work), cid), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        try:
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                output(line)
                tail = [*tail[-19:], line]
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await asyncio.to_thread(overlay.unmount, rootfs)
        entries = await asyncio.to_thread(upper_entries, upper, layers) if code == 0 else []
        return RunResult(code, entries, tail)
    except ValueError as exc:  # the spec builder's bad-argv / security errors
        raise StepError(str(exc)) from None
    except OSError as exc:
        raise StepError(f"cannot run the step: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await runc.delete(cid)
        await asyncio.to_thread(overlay.unmount, rootfs)
        await asyncio.to_thread(shutil.rmtree, work, True)


@contextlib.contextmanager
def merged_view(work: Path, layers: list[Path]) -> Iterator[Path]:
    """A stage's filesystem as one directory (an overlay mount) for COPY --from."""
    target = work / "merged"
    overlay.mount_overlay(layers, work / "upper", work / "ovl-work", target)
    try:
        yield target
    finally:
        overlay.unmount(target)
        shutil.rmtree(work, ignore_errors=True)
