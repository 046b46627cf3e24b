"""Filesystem views a build needs: look a path up through unpacked layers, turn a
directory (an overlay upper dir or a COPY source) into layer-writer entries.

Why here and not a second layer writer: the entries go to
`kubelet.images.builder.build_layer` (the one reproducible tar writer) and layers
are unpacked by `kubelet.images.unpack.unpack_layer`; this module only
translates overlayfs' view of changes (0/0 character devices for deletions, the
`trusted.overlay.opaque` xattr for replaced directories) into OCI whiteouts.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kubelet.images.builder import LayerEntry
from kubelet.images.unpack import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX

# Mount points runc creates in a rootfs when missing; empty ones are not the step's output.
RUNTIME_MOUNTPOINTS = ("proc", "sys", "sys/fs/cgroup", "dev", "dev/pts", "dev/shm", "dev/mqueue",
                       "etc/hosts", "etc/resolv.conf", "etc/hostname")


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def lookup(layers: list[Path], rel: str) -> Path | None:
    """The topmost layer's copy of `rel` (relative, no symlinks followed), or None if absent/deleted."""
    parts = [p for p in rel.strip("/").split("/") if p and p != "."]
    for layer in reversed(layers):
        current = layer
        hidden = False
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                current = Path()
                break
            if _is_whiteout(st):
                return None
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                current = Path()
                break
            if i < len(parts) - 1 and _opaque(current):
                hidden = True  # lower layers cannot have what this one lacks below here
        if current != Path():
            return current
        if hidden:
            return None
    return None


def read_text(layers: list[Path], rel: str) -> str | None:
    found = lookup(layers, rel)
    try:
        return found.read_text(errors="replace") if found is not None and found.is_file() else None
    except OSError:
        return None


def _entry(path: Path, name: str, owner: Owner | None, mode: int | None) -> LayerEntry | None:
    st = os.lstat(path)
    uid, gid = (owner.uid, owner.gid) if owner else (st.st_uid, st.st_gid)
    perm = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return LayerEntry(name + "/", "dir", mode=mode if mode is not None else perm, uid=uid, gid=gid)
    if stat.S_ISLNK(st.st_mode):
        return LayerEntry(name, "symlink", target=os.readlink(path), mode=0o777, uid=uid, gid=gid)
    if stat.S_ISREG(st.st_mode):
        return LayerEntry(name, "file", path.read_bytes(), mode if mode is not None else perm, uid=uid, gid=gid)
    return None  # sockets, fifos, devices: not image content


def upper_entries(upper: Path, lowers: list[Path]) -> list[LayerEntry]:
    """The OCI diff of an overlay upper dir: changed entries plus whiteouts, sorted."""
    out: list[LayerEntry] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        base = Path(dirpath)
        rel_dir = base.relative_to(upper).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        if prefix and _opaque(base):
            out.append(LayerEntry(prefix + OPAQUE_MARKER, "file", mode=0o644))
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = prefix + name
            st = os.lstat(path)
            if _is_whiteout(st):
                head, _, tail = rel.rpartition("/")
                out.append(LayerEntry((head + "/" if head else "") + WHITEOUT_PREFIX + tail, "file", mode=0o644))
                continue
            if rel in RUNTIME_MOUNTPOINTS and lookup(lowers, rel) is None and _empty(path, st):
                continue
            entry = _entry(path, rel, None, None)
            if entry is not None:
                out.append(entry)
    out.sort(key=lambda e: e.path)
    return [e for e in out if not _unchanged_dir(e, out, lowers)]


def _unchanged_dir(e: LayerEntry, entries: list[LayerEntry], lowers: list[Path]) -> bool:
    """A directory overlayfs only copied up (e.g. /etc for a runtime mount point) with nothing
    changed inside and the same owner and mode below is not part of the step's diff."""
    if e.kind != "dir" or any(x.path.startswith(e.path) and x.path != e.path for x in entries):
        return False
    below = lookup(lowers, e.path.rstrip("/"))
    if below is None or below.is_symlink() or not below.is_dir():
        return False
    st = os.lstat(below)
    return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (e.mode, e.uid, e.gid)


def _empty(path: Path, st: os.stat_result) -> bool:
    if stat.S_ISDIR(st.st_mode):
        return not any(path.iterdir())
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def tree_entries(src: Path, dest: str, owner: Owner | None, mode: int | None,
                 keep: set[str] | None = None) -> list[LayerEntry]:
    """`src` (a file, or a directory's contents) as entries under `dest` (relative, no slash).

    `keep` (paths relative to `src`) limits a directory copy to the files not ignored.
    """
    st = os.stat(src)
    if not stat.S_ISDIR(st.st_mode):
        entry = _entry(src.resolve(), dest, owner, mode)
        return [entry] if entry is not None else []
    out: list[LayerEntry] = []
    root = _entry(src, dest, owner, mode)
    if root is not None and dest:
        out.append(root)
    for dirpath, dirnames, filenames in os.walk(src):
        base = Path(dirpath)
        rel_dir = base.relative_to(src).as_posix()
        for name in sorted([*dirnames, *filenames]):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if keep is not None and rel not in keep:
                continue
            entry = _entry(base / name, f"{dest}/{rel}" if dest else rel, owner, mode)
            if entry is not None:
                out.append(entry)
    return out


def parent_entries(layers: list[Path], dest: str, already: set[str]) -> list[LayerEntry]:
    """Directory entries for `dest`'s parents: existing ones keep their owner and mode
    (an entry-less parent would be created 0755 and hide e.g. /tmp's 1777), new ones are 0755 root."""
    out: list[LayerEntry] = []
    parts = dest.split("/")[:-1]
    for i in range(len(parts)):
        rel = "/".join(parts[: i + 1])
        if rel + "/" in already:
            continue
        found = lookup(layers, rel)
        if found is not None and found.is_dir() and not found.is_symlink():
            st = os.lstat(found)
            out.append(LayerEntry(rel + "/", "dir", mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid))
        elif found is None:
            out.append(LayerEntry(rel + "/", "dir", mode=0o755))
        already.add(rel + "/")
    return out
