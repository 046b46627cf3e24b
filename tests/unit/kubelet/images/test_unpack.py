"""Layer unpacking: whiteouts become overlay markers, nothing escapes the layer directory."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kubelet.images.blobs import digest_of
from kubelet.images.builder import LayerEntry, build_layer
from kubelet.images.errors import LayerError
from kubelet.images.unpack import OPAQUE_XATTR, unpack_layer

needs_root = pytest.mark.requires_root("whiteout devices and trusted.* xattrs need root")


def write_layer(tmp_path: Path, entries: list[LayerEntry], compress: bool = True) -> tuple[Path, str]:
    layer = build_layer(entries, compress)
    blob = tmp_path / "blob"
    blob.write_bytes(layer.blob)
    return blob, layer.diff_id


def test_files_dirs_links_and_metadata(tmp_path: Path) -> None:
    blob, diff_id = write_layer(tmp_path, [
        LayerEntry("etc/", "dir", mode=0o755),
        LayerEntry("etc/passwd", "file", b"root:x:0:0\n", 0o644),
        LayerEntry("bin/", "dir", mode=0o755),
        LayerEntry("bin/tool", "file", b"#!/bin/sh\n", 0o4755, uid=7, gid=8),
        LayerEntry("bin/sh", "symlink", target="/bin/busybox"),
        LayerEntry("bin/tool2", "hardlink", target="bin/tool"),
        LayerEntry("ro/", "dir", mode=0o555),
        LayerEntry("ro/file", "file", b"x"),
    ])
    dest = tmp_path / "layer"
    assert unpack_layer(blob, dest, diff_id) == 0
    assert (dest / "etc/passwd").read_bytes() == b"root:x:0:0\n"
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.stat(dest / "bin/tool").st_ino == os.stat(dest / "bin/tool2").st_ino
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555
    assert os.stat(dest / "etc/passwd").st_mtime == 0


@needs_root
def test_owners_and_setuid_bits_are_kept(tmp_path: Path) -> None:
    """Only root may chown to another user (and keep setuid across it)."""
    blob, diff_id = write_layer(tmp_path, [
        LayerEntry("bin/", "dir", mode=0o755),
        LayerEntry("bin/tool", "file", b"#!/bin/sh\n", 0o4755, uid=7, gid=8),
    ])
    dest = tmp_path / "layer"
    unpack_layer(blob, dest, diff_id)
    st = os.stat(dest / "bin/tool")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (7, 8, 0o4755)


def test_plain_tar_layer(tmp_path: Path) -> None:
    blob, diff_id = write_layer(tmp_path, [LayerEntry("a", "file", b"plain")], compress=False)
    unpack_layer(blob, tmp_path / "l", diff_id)
    assert (tmp_path / "l/a").read_bytes() == b"plain"


@needs_root
def test_whiteouts_become_overlay_markers(tmp_path: Path) -> None:
    blob, diff_id = write_layer(tmp_path, [
        LayerEntry("a/", "dir", mode=0o755),
        LayerEntry("a/.wh.gone", "file"),
        LayerEntry(".wh.top", "file"),
        LayerEntry("c/", "dir", mode=0o755),
        LayerEntry("c/.wh..wh..opq", "file"),
        LayerEntry("c/new", "file", b"n"),
    ])
    dest = tmp_path / "layer"
    unpack_layer(blob, dest, diff_id)
    for path in (dest / "a/gone", dest / "top"):
        st = os.lstat(path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (dest / "a/.wh.gone").exists() and not (dest / "c/.wh..wh..opq").exists()
    assert os.getxattr(dest / "c", OPAQUE_XATTR) == b"y"
    assert (dest / "c/new").read_bytes() == b"n"


def raw_tar(tmp_path: Path, build: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info in build:
            body = (data or {}).get(info.name, b"")
            info.size = len(body) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(body))
    path = tmp_path / "evil.tar"
    path.write_bytes(buf.getvalue())
    return path


def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type, t.linkname, t.mode = kind, link, 0o644
    return t


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/../escape"])
def test_parent_references_are_refused(tmp_path: Path, name: str) -> None:
    blob = raw_tar(tmp_path, [info(name)])
    with pytest.raises(LayerError, match="escapes"):
        unpack_layer(blob, tmp_path / "layer")
    assert not (tmp_path / "escape").exists()


def test_absolute_names_stay_inside(tmp_path: Path) -> None:
    blob = raw_tar(tmp_path, [info("/etc/inside")], {"/etc/inside": b"ok"})
    unpack_layer(blob, tmp_path / "layer")
    assert (tmp_path / "layer/etc/inside").read_bytes() == b"ok"


def test_writing_through_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    blob = raw_tar(tmp_path, [info("d", tarfile.SYMTYPE, str(outside)), info("d/pwned")], {"d/pwned": b"x"})
    with pytest.raises(LayerError, match="not a directory"):
        unpack_layer(blob, tmp_path / "layer")
    assert list(outside.iterdir()) == []


def test_hardlink_outside_the_layer_is_refused(tmp_path: Path) -> None:
    blob = raw_tar(tmp_path, [info("h", tarfile.LNKTYPE, "../../etc/passwd")])
    with pytest.raises(LayerError):
        unpack_layer(blob, tmp_path / "layer")


def test_symlink_file_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"safe")
    blob = raw_tar(tmp_path, [info("f", tarfile.SYMTYPE, str(target)), info("f")], {"f": b"new"})
    unpack_layer(blob, tmp_path / "layer")
    assert target.read_bytes() == b"safe"
    assert (tmp_path / "layer/f").read_bytes() == b"new" and not (tmp_path / "layer/f").is_symlink()


def test_diff_id_mismatch(tmp_path: Path) -> None:
    blob, _ = write_layer(tmp_path, [LayerEntry("a", "file", b"x")])
    with pytest.raises(LayerError, match="the image config says"):
        unpack_layer(blob, tmp_path / "layer", digest_of(b"something else"))


def test_not_a_tar_and_zstd(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(LayerError, match="not a valid tar"):
        unpack_layer(bad, tmp_path / "l1")
    bad.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 100)
    with pytest.raises(LayerError, match="zstd"):
        unpack_layer(bad, tmp_path / "l2")
