"""`is_mountpoint` answers for the one path asked about, the same way mountinfo would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelet.runc import overlay


def test_mount_points_and_plain_paths(tmp_path: Path) -> None:
    assert overlay.is_mountpoint(Path("/"))
    assert overlay.is_mountpoint(Path("/proc")) == ("/proc" in overlay.mount_points())
    assert not overlay.is_mountpoint(tmp_path)
    assert not overlay.is_mountpoint(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    assert not overlay.is_mountpoint(tmp_path / "file")
    assert not overlay.is_mountpoint(tmp_path / "file" / "below-a-file")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_tmpfs_and_a_file_bind_mount_are_seen_until_unmounted(tmp_path: Path) -> None:
    shm, ns = tmp_path / "shm", tmp_path / "net"
    ns.touch()
    overlay.mount_tmpfs(shm)
    try:
        overlay.bind_mount("/proc/self/ns/net", ns)
        try:
            assert overlay.is_mountpoint(shm) and overlay.is_mountpoint(ns)
            assert {str(shm), str(ns)} <= set(overlay.mounts_under(tmp_path))
            overlay.mount_tmpfs(shm)  # idempotent: seen as mounted, not stacked
            assert overlay.mounts_under(shm) == [str(shm)]
        finally:
            overlay.unmount(ns)
    finally:
        overlay.unmount(shm)
    assert not overlay.is_mountpoint(shm) and not overlay.is_mountpoint(ns)


def test_mountinfo_escapes_are_undone() -> None:
    assert overlay._unescape(r"/a\040b/c\134d") == "/a b/c\\d"
    assert overlay._unescape("/plain/path") == "/plain/path"
