"""The pod-level cgroup: the parent of a pod's container cgroups, holding the pod's pids limit.

Why a pod cgroup: a pids limit on each container lets a pod with N containers
run N times the limit; Kubernetes' podPidsLimit caps the whole pod. On cgroup
v1 the `pids` controller is hierarchical -- a fork anywhere below a cgroup
fails once that cgroup's `pids.current` reaches its `pids.max` -- so the
kubelet creates `<parent>/pod-<sandbox>` with `pids.max` before any container
starts and gives every container of the sandbox `cgroupsPath`
`/<parent>/pod-<sandbox>/<container>` (runc creates the container level, in
every controller). The directory lives as long as the sandbox; runc leaves the
pod level behind in every controller, so `remove` rmdirs it there.
"""

from __future__ import annotations

import time
from pathlib import Path

from kubelet.runtime import SandboxError

CGROUP_ROOT = Path("/sys/fs/cgroup")
RMDIR_TRIES = 50  # EBUSY while the last task of a just-killed container is still exiting


def pod_path(parent: str, sandbox_id: str) -> str:
    """The pod cgroup relative to each controller's root, e.g. `kubelite/node-1/pod-<sandbox>`."""
    return f"{parent.strip('/')}/pod-{sandbox_id}"


def container_path(parent: str, sandbox_id: str, container_id: str) -> str:
    """The OCI `linux.cgroupsPath` of a container of the sandbox (absolute: no runc prefixing)."""
    return f"/{pod_path(parent, sandbox_id)}/{container_id}"


def ensure(parent: str, sandbox_id: str, pids_max: int, root: Path = CGROUP_ROOT) -> None:
    """Create the pod cgroup in the pids controller and set `pids.max` (idempotent).

    `pids_max` <= 0 means unlimited: the pod level is still made so containers nest
    the same way either way. A limit that cannot be set is an error, never skipped.
    """
    pids = root / "pids"
    if not pids.is_dir():
        if pids_max > 0:
            raise SandboxError("cannot enforce the pod pids limit: cgroup v1 pids controller not mounted at "
                               f"{pids}")
        return
    d = pids / pod_path(parent, sandbox_id)
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / "pids.max").write_text(str(pids_max) if pids_max > 0 else "max")
    except OSError as exc:
        raise SandboxError(f"cannot set the pod pids limit in {d}: {exc.strerror or exc}") from exc


def remove(parent: str, sandbox_id: str, root: Path = CGROUP_ROOT) -> list[str]:
    """rmdir the pod cgroup in every controller (its containers' cgroups are gone by now).

    Returns the directories still there (a container process not yet reaped)."""
    return _rmdir_everywhere(pod_path(parent, sandbox_id), root)


def remove_container(relative: str, root: Path = CGROUP_ROOT) -> list[str]:
    """rmdir a container's cgroup (`relative` to each controller root) in every controller."""
    return _rmdir_everywhere(relative.strip("/"), root)


def _rmdir_everywhere(relative: str, root: Path) -> list[str]:
    try:
        controllers = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    left: list[str] = []
    for ctrl in controllers:
        path = ctrl / relative
        for _ in range(RMDIR_TRIES):
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        else:
            left.append(str(path))
    return left

