"""The OCI runtime spec (`config.json`) of one container: pure functions, no I/O.

Why pure: everything the kubelet promises about a container's process and
isolation (argv merged with the image like Kubernetes, env, user, mounts,
namespaces shared with the pod, cgroup limits, capabilities) is decided here,
so it is unit-tested without root; the runtime only feeds in paths and writes
the result next to the rootfs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelet.runc import security as secctx
from kubelet.runc.security import ALL_CAPS, DEFAULT_CAPS
from kubelet.runtime import Mount, Resources, Security

__all__ = ["ALL_CAPS", "DEFAULT_CAPS", "ImageProcess", "SpecInputs", "UserError", "runtime_spec"]

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD_US = 100_000
MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262_144

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


class UserError(ValueError):
    """The image's USER (or runAsUser) cannot be resolved in the image's /etc/passwd."""


@dataclass(frozen=True)
class ImageProcess:
    """What the bundle takes from the image config (OCI image config `config` fields)."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # "KEY=value"
    working_dir: str = ""
    user: str = ""


@dataclass(frozen=True)
class SpecInputs:
    """Everything `runtime_spec` needs, resolved by the runtime."""

    argv: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    additional_gids: list[int]
    cgroups_path: str
    mounts: list[Mount]  # pod files (/etc/hosts ...) and volumes, bound in this order
    resources: Resources = field(default_factory=Resources)
    security: Security = field(default_factory=Security)
    netns_path: str | None = None  # None: share the kubelet's (node's) network
    ipc_path: str | None = None  # the pod's IPC namespace; None: a private one
    uts_path: str | None = None  # the pod's UTS namespace (hostname set there); None: the host's
    shm_path: str | None = None  # the pod's /dev/shm (shared with the IPC namespace)
    hostname: str = ""  # only used when the container gets a private UTS namespace
    terminal: bool = False
    seccomp_localhost: dict[str, Any] | None = None  # the loaded `Localhost` seccomp profile
    host_devices: list[dict[str, Any]] = field(default_factory=list)  # privileged: OCI linux.devices


def merge_argv(command: list[str], args: list[str], image: ImageProcess) -> list[str]:
    """Kubernetes' rule: `command` replaces ENTRYPOINT (and drops CMD), `args` replaces CMD."""
    if command:
        return [*command, *args]
    return [*image.entrypoint, *(args if args else image.cmd)]


def merge_env(image_env: list[str], pod_env: Mapping[str, str], hostname: str) -> list[str]:
    """PATH and HOSTNAME defaults, then the image's env, then the pod's (later wins, order kept)."""
    merged: dict[str, str] = {"PATH": DEFAULT_PATH}
    if hostname:
        merged["HOSTNAME"] = hostname
    for item in image_env:
        key, sep, value = item.partition("=")
        if key:
            merged[key] = value if sep else ""
    merged.update(pod_env)
    return [f"{k}={v}" for k, v in merged.items()]


def _parse_db(text: str | None, min_fields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        if line and not line.startswith("#"):
            parts = line.split(":")
            if len(parts) >= min_fields:
                rows.append(parts)
    return rows


def resolve_user(
    image_user: str, security: Security, passwd: str | None, group: str | None
) -> tuple[int, int, list[int]]:
    """(uid, gid, supplementary gids) the way container runtimes do it.

    `runAsUser`/`runAsGroup` win over the image's USER (`name`, `uid`, `name:group`,
    `uid:gid`); names are looked up in the image's /etc/passwd and /etc/group; a
    uid without a group takes its passwd entry's primary group, else 0. The pod's
    supplementalGroups (and fsGroup, which the kubelet adds to them) join the
    groups the image's /etc/group gives the user.
    """
    users = _parse_db(passwd, 4)
    groups = _parse_db(group, 3)
    user_part, _, group_part = image_user.partition(":")
    name = ""
    if security.run_as_user is not None:
        uid = security.run_as_user
        group_part = "" if security.run_as_group is not None else group_part
    elif not user_part:
        uid = 0
    elif user_part.isdigit():
        uid = int(user_part)
    else:
        entry = next((u for u in users if u[0] == user_part), None)
        if entry is None or not entry[2].isdigit():
            raise UserError(f"user {user_part!r} not found in the image's /etc/passwd")
        uid = int(entry[2])
    passwd_entry = next((u for u in users if u[2] == str(uid)), None)
    if passwd_entry is not None:
        name = passwd_entry[0]
    if security.run_as_group is not None:
        gid = security.run_as_group
    elif group_part.isdigit():
        gid = int(group_part)
    elif group_part:
        gentry = next((g for g in groups if g[0] == group_part), None)
        if gentry is None or not gentry[2].isdigit():
            raise UserError(f"group {group_part!r} not found in the image's /etc/group")
        gid = int(gentry[2])
    elif passwd_entry is not None and passwd_entry[3].isdigit():
        gid = int(passwd_entry[3])
    else:
        gid = 0
    extra = sorted(
        ({int(g[2]) for g in groups if name and g[2].isdigit() and len(g) > 3 and name in g[3].split(",")}
         | set(security.supplemental_groups)) - {gid}
    )
    return uid, gid, extra


def cpu_shares(request_millis: int) -> int:
    """cpu.shares from the CPU request, as the kubelet computes it (1 core = 1024)."""
    if request_millis <= 0:
        return MIN_CPU_SHARES
    return max(MIN_CPU_SHARES, min(MAX_CPU_SHARES, request_millis * 1024 // 1000))


def linux_resources(resources: Resources) -> dict[str, Any]:
    """The container's own limits; the pids limit is the pod's, on its parent cgroup (podcgroup.py)."""
    out: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    cpu: dict[str, Any] = {"shares": cpu_shares(resources.cpu_millis_request)}
    if resources.cpu_millis_limit:
        cpu["quota"] = max(1000, resources.cpu_millis_limit * CPU_PERIOD_US // 1000)
        cpu["period"] = CPU_PERIOD_US
    out["cpu"] = cpu
    if resources.memory_limit_bytes:
        # swap == limit: no swap on top of the limit, so the limit really means OOMKilled.
        out["memory"] = {"limit": resources.memory_limit_bytes, "swap": resources.memory_limit_bytes}
    return out


def _mounts(inputs: SpecInputs) -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if inputs.security.privileged else ["ro"])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + ([] if inputs.security.privileged else ["ro"])},
    ]
    if inputs.security.host_ipc:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                       "options": ["rbind", "nosuid", "noexec", "nodev"]})
    elif inputs.shm_path:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": inputs.shm_path,
                       "options": ["rbind", "nosuid", "noexec", "nodev"]})
    else:
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]})
    for m in inputs.mounts:
        mounts.append({"destination": m.container_path, "type": "bind", "source": m.host_path,
                       "options": ["rbind", "rprivate", "ro" if m.readonly else "rw"]})
    return mounts


def _namespaces(inputs: SpecInputs) -> list[dict[str, str]]:
    out = [{"type": "mount"}] if inputs.security.host_pid else [{"type": "pid"}, {"type": "mount"}]
    if not inputs.security.host_ipc:
        out.append({"type": "ipc", "path": inputs.ipc_path} if inputs.ipc_path else {"type": "ipc"})
    if inputs.uts_path:
        out.append({"type": "uts", "path": inputs.uts_path})
    elif inputs.hostname:
        out.append({"type": "uts"})
    if inputs.netns_path:
        out.append({"type": "network", "path": inputs.netns_path})
    return out


def runtime_spec(inputs: SpecInputs) -> dict[str, Any]:
    """The OCI runtime spec document for `runc` (rootfs at `<bundle>/rootfs`)."""
    if not inputs.argv or not inputs.argv[0]:
        raise ValueError("no command: the pod sets neither command nor args and the image has no ENTRYPOINT/CMD")
    sec = inputs.security
    caps = secctx.capabilities(sec)  # SecurityConfigError (a ValueError) on a bad setting
    seccomp = secctx.seccomp_section(sec, caps, inputs.seccomp_localhost)
    process: dict[str, Any] = {
        "terminal": inputs.terminal,
        "user": {"uid": inputs.uid, "gid": inputs.gid, **({"additionalGids": inputs.additional_gids}
                                                            if inputs.additional_gids else {})},
        "args": list(inputs.argv),
        "env": list(inputs.env),
        "cwd": inputs.cwd or "/",
        "capabilities": secctx.process_capabilities(caps, inputs.uid),
        "noNewPrivileges": secctx.no_new_privileges(sec, caps),
    }
    linux: dict[str, Any] = {
        "namespaces": _namespaces(inputs),
        "cgroupsPath": inputs.cgroups_path,
        "resources": linux_resources(inputs.resources),
    }
    if sec.privileged:  # every host device, as containerd does for privileged containers
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        if inputs.host_devices:
            linux["devices"] = [dict(d) for d in inputs.host_devices]
    if seccomp is not None:
        linux["seccomp"] = seccomp
    if not sec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": "rootfs", "readonly": sec.read_only_root_fs},
        "mounts": _mounts(inputs),
        "linux": linux,
    }
    if not inputs.uts_path and inputs.hostname:
        spec["hostname"] = inputs.hostname
    return spec
