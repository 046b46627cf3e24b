"""A container's `securityContext` as OCI spec pieces: capabilities, no_new_privs, seccomp, non-root.

Why its own module: these are the promises a pod's author relies on for
isolation, and each must either be enforced or refuse the container -- never be
dropped. Keeping the decisions here as pure functions (the one file read, a
`Localhost` seccomp profile, is separate) lets every rule be unit-tested
without root, and keeps `bundle.py` about the shape of the spec.

Semantics follow Kubernetes + containerd:

* capabilities: containerd's default set; `privileged` gets all; `add: [ALL]`
  starts from all, `drop: [ALL]` from none, then single adds, then single drops
  (so `drop` wins); Kubernetes names have no `CAP_` prefix;
* no_new_privileges: `allowPrivilegeEscalation` when set, else escalation is
  allowed only for privileged containers or ones holding CAP_SYS_ADMIN;
* seccomp: `RuntimeDefault` unless the pod says `Unconfined` or `Localhost`
  (a JSON profile under the kubelet's seccomp dir); privileged containers are
  unconfined, as in containerd;
* runAsNonRoot: checked against runAsUser or the image's USER with Kubernetes'
  messages (a non-numeric image user cannot be verified, so it is refused).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from kubelet.runc import seccomp_default
from kubelet.runtime import Security

# What a container gets by default (containerd's/Docker's default set).
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
ALL_CAPS: tuple[str, ...] = DEFAULT_CAPS + (
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE",
    "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


class SecurityConfigError(ValueError):
    """The container's security settings forbid creating it (CreateContainerConfigError)."""


def cap_name(name: str) -> str:
    """Kubernetes' `NET_ADMIN` (any case, `CAP_` prefix tolerated) -> `CAP_NET_ADMIN`."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def capabilities(sec: Security) -> list[str]:
    """The container's bounding set, in ALL_CAPS order."""
    if sec.privileged:
        return list(ALL_CAPS)
    adds = {cap_name(c) for c in sec.cap_add}
    drops = {cap_name(c) for c in sec.cap_drop}
    caps = set(DEFAULT_CAPS)
    if "CAP_ALL" in adds:
        caps = set(ALL_CAPS)
    if "CAP_ALL" in drops:
        caps = set()
    caps |= adds - {"CAP_ALL"}
    caps -= drops
    unknown = sorted(caps - set(ALL_CAPS))
    if unknown:
        raise SecurityConfigError(f"unknown capabilities: {', '.join(unknown)}")
    return [c for c in ALL_CAPS if c in caps]


def process_capabilities(caps: list[str], uid: int) -> dict[str, list[str]]:
    """The OCI `process.capabilities`: root gets them effective; another user keeps only the
    bounding set (what it could regain through file capabilities, unless no_new_privs)."""
    active = list(caps) if uid == 0 else []
    return {"bounding": list(caps), "effective": active, "permitted": active}


def no_new_privileges(sec: Security, caps: list[str]) -> bool:
    if sec.allow_privilege_escalation is not None:
        return not sec.allow_privilege_escalation
    return not (sec.privileged or "CAP_SYS_ADMIN" in caps)


def localhost_profile_path(seccomp_dir: Path, relative: str) -> Path:
    """Where a `Localhost` profile lives; it must stay inside the kubelet's seccomp dir."""
    rel = PurePosixPath(relative)
    if not relative or rel.is_absolute() or ".." in rel.parts:
        raise SecurityConfigError(f"seccomp localhostProfile {relative!r} must be a relative path without '..'")
    return seccomp_dir / rel


def load_localhost_profile(seccomp_dir: Path, relative: str) -> dict[str, Any]:
    """Read and minimally check a `Localhost` profile (I/O; the runtime calls it in a thread)."""
    path = localhost_profile_path(seccomp_dir, relative)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise SecurityConfigError(f"cannot read seccomp profile {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SecurityConfigError(f"seccomp profile {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("defaultAction"), str):
        raise SecurityConfigError(f"seccomp profile {str(path)!r} has no defaultAction")
    return data


def seccomp_section(sec: Security, caps: list[str], localhost: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` section; None means unconfined."""
    if sec.privileged or sec.seccomp == "Unconfined":
        return None
    if sec.seccomp == "Localhost":
        if localhost is None:
            raise SecurityConfigError(f"seccomp profile {sec.seccomp_localhost!r} was not loaded")
        return localhost
    if sec.seccomp != "RuntimeDefault":
        raise SecurityConfigError(f"unsupported seccomp profile type {sec.seccomp!r}")
    return seccomp_default.profile(set(caps))


def verify_non_root(sec: Security, image_user: str, container: str, pod_ref: str) -> None:
    """Kubernetes' verifyRunAsNonRoot: refuse a container that would (or might) run as root."""
    if not sec.run_as_non_root:
        return
    if sec.run_as_user is not None:
        if sec.run_as_user == 0:
            raise SecurityConfigError(
                f"container's runAsUser breaks non-root policy (pod: {json.dumps(pod_ref)}, container: {container})")
        return
    user = image_user.partition(":")[0]
    if user == "" or (user.isdigit() and int(user) == 0):
        raise SecurityConfigError(
            f"container has runAsNonRoot and image will run as root (pod: {json.dumps(pod_ref)}, "
            f"container: {container})")
    if not user.isdigit():
        raise SecurityConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root "
            f"(pod: {json.dumps(pod_ref)}, container: {container})")


def host_devices(dev: Path = Path("/dev")) -> list[dict[str, Any]]:
    """The node's device nodes as OCI `linux.devices` (privileged containers see them all)."""
    out: list[dict[str, Any]] = []
    for root, dirs, files in os.walk(dev):
        dirs[:] = [d for d in dirs if d not in ("pts", "shm", "mqueue")]  # the container mounts its own
        for name in files:
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
            if not kind or str(path) in ("/dev/console", "/dev/ptmx"):
                continue
            out.append({"path": str(path), "type": kind, "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid, "gid": st.st_gid})
    return out
