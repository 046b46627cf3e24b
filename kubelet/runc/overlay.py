"""Mounts the runc runtime makes on the node: overlayfs rootfs, pod /dev/shm, namespace files.

Why direct syscalls (ctypes) rather than `mount(8)`: a pod start makes several
mounts and a fork+exec each would dominate start latency; the calls are
non-blocking in practice (local filesystems). Every function is idempotent so
that cleanup after a crash (or a re-adopting kubelet) can simply run them again.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

MS_BIND = 4096
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MNT_DETACH = 2
PAGE_LIMIT = 4000  # mount data must fit in one page

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(OSError):
    pass


def _mount(source: str, target: Path, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc.mount(
        source.encode(), str(target).encode(), fstype.encode() if fstype else None, flags,
        data.encode() if data is not None else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"mount {fstype or 'bind'} {source} on {target}: {os.strerror(err)}")


def mount_overlay(layers: list[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount an overlay of `layers` (lowest first, as images list them) with a private
    writable `upper` at `target`; a no-op if already mounted."""
    if is_mountpoint(target):
        return
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    if not layers:
        raise MountError(errno.EINVAL, "image has no layers")
    for p in [*layers, upper, work]:
        if any(ch in str(p) for ch in ":,"):
            raise MountError(errno.EINVAL, f"path {p} contains ':' or ',' which overlayfs options cannot carry")
    lower = ":".join(str(p) for p in reversed(layers))  # overlayfs: leftmost is the top layer
    data = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if len(data) > PAGE_LIMIT:
        raise MountError(errno.E2BIG, f"image has too many layers for one overlay mount ({len(layers)})")
    _mount("overlay", target, "overlay", 0, data)


def mount_tmpfs(target: Path, size: str = "64m", mode: str = "1777") -> None:
    if is_mountpoint(target):
        return
    target.mkdir(parents=True, exist_ok=True)
    _mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"mode={mode},size={size}")


def bind_mount(source: str, target: Path) -> None:
    """Bind `source` (a file such as /proc/PID/ns/net) onto the existing file `target`."""
    _mount(source, target, None, MS_BIND, None)


def unmount(target: Path) -> None:
    """Detach whatever is mounted at `target` (all stacked mounts); fine if nothing is."""
    while True:
        rc = _libc.umount2(str(target).encode(), MNT_DETACH)
        if rc != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more) / gone
                return
            raise MountError(err, f"umount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    if "\\" not in field:
        return field  # nearly every line: no per-character pass
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    """Mount points of this mount namespace (from /proc/self/mountinfo)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    return [_unescape(line.split(" ")[4]) for line in text.splitlines() if line.count(" ") >= 4]


def is_mountpoint(path: Path) -> bool:
    """Whether something is mounted at `path` (the path itself, not followed if a symlink).

    Asked on every pod start (its /dev/shm, each container's rootfs), so it asks the kernel
    about this one path (statx's mount-root attribute, Linux 5.8) rather than reading
    mountinfo: that lists every mount of the node, ~5 per running pod, and parsing it per
    start made a burst of starts quadratic (it was a quarter of a kubelet's samples in a
    burst of 100). Older kernels fall back to mountinfo."""
    root = _statx_mount_root(path)
    return root if root is not None else str(path) in mount_points()


class _Statx(ctypes.Structure):
    """The head of struct statx (linux/stat.h) up to stx_attributes_mask; the rest is padding."""

    _fields_ = [("mask", ctypes.c_uint32), ("blksize", ctypes.c_uint32), ("attributes", ctypes.c_uint64),
                ("nlink", ctypes.c_uint32), ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32),
                ("mode", ctypes.c_uint16), ("spare0", ctypes.c_uint16), ("ino", ctypes.c_uint64),
                ("size", ctypes.c_uint64), ("blocks", ctypes.c_uint64), ("attributes_mask", ctypes.c_uint64),
                ("rest", ctypes.c_uint8 * 200)]


AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
STATX_ATTR_MOUNT_ROOT = 0x2000
_statx = getattr(_libc, "statx", None)
if _statx is not None:
    _statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_Statx)]


def _statx_mount_root(path: Path) -> bool | None:
    """True/False when the kernel tells whether `path` is the root of a mount; None when it
    cannot (no statx, or a kernel without STATX_ATTR_MOUNT_ROOT). A missing path is no mount."""
    if _statx is None:
        return None
    buf = _Statx()
    if _statx(AT_FDCWD, str(path).encode(), AT_SYMLINK_NOFOLLOW, 0, ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR):
            return False
        return None
    if not buf.attributes_mask & STATX_ATTR_MOUNT_ROOT:
        return None
    return bool(buf.attributes & STATX_ATTR_MOUNT_ROOT)


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below `prefix` (for cleanup and leak checks)."""
    base = str(prefix).rstrip("/")
    return [m for m in mount_points() if m == base or m.startswith(base + "/")]
