"""Archives load into the node store: OCI layout (dir and tar) and docker-save tarballs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelet.images import ArchiveError, ImageStore
from kubelet.images.archive import open_archive
from kubelet.images.builder import tar_directory, write_oci_layout
from tests.unit.kubelet.images.archives import docker_save_tar, small_image


async def test_oci_layout_dir_and_tar(tmp_path: Path) -> None:
    layout = write_oci_layout(small_image(b"oci", refs=["example.com/team/app:v1"]), tmp_path / "layout")
    store = ImageStore(tmp_path / "store", default_registry="reg:5000")
    assert await store.load_archive(layout) == ["example.com/team/app:v1"]
    image = store.get("example.com/team/app:v1")
    assert image is not None and (image.layer_dirs[0] / "data/file").read_bytes() == b"oci"
    assert image.config.cmd == ["cat", "/data/file"]

    tarred = tar_directory(write_oci_layout(small_image(b"t", refs=["busybox:2"]), tmp_path / "l2"), tmp_path / "x.tar")
    assert await store.load_archive(tarred) == ["reg:5000/library/busybox:2"]
    assert store.get("busybox:2") is not None


async def test_bare_tag_layout_uses_name(tmp_path: Path) -> None:
    layout = write_oci_layout(small_image(refs=["v3"]), tmp_path / "myapp")
    store = ImageStore(tmp_path / "store", default_registry="reg:5000")
    assert await store.load_archive(layout) == ["reg:5000/library/myapp:v3"]
    assert await store.load_archive(layout, name="team/other") == ["reg:5000/team/other:v3"]


async def test_docker_save(tmp_path: Path) -> None:
    image = small_image(b"docker", compress=False)
    tar = docker_save_tar(tmp_path / "save.tar", image, ["busybox:saved", "other/name:1"])
    store = ImageStore(tmp_path / "store", default_registry="reg:5000")
    refs = await store.load_archive(tar)
    assert refs == ["reg:5000/library/busybox:saved", "reg:5000/other/name:1"]
    loaded = store.get("busybox:saved")
    assert loaded is not None and loaded.id == image.config_digest
    assert (loaded.layer_dirs[0] / "data/file").read_bytes() == b"docker"
    assert store.get("other/name:1") == loaded.__class__(**{**loaded.__dict__, "ref": "reg:5000/other/name:1"})


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        open_archive(tmp_path / "missing.tar")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar" * 100)
    with pytest.raises(ArchiveError, match="not a readable tar"):
        open_archive(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match="neither an OCI image layout"):
        open_archive(tmp_path / "empty")


def test_missing_and_corrupt_blobs(tmp_path: Path) -> None:
    image = small_image(refs=["a:1"])
    layout = write_oci_layout(image, tmp_path / "l")
    layer_path = layout / "blobs/sha256" / image.layers[0].digest.split(":")[1]
    layer_path.unlink()
    with pytest.raises(ArchiveError, match="missing from the archive"):
        open_archive(layout)
    manifest_path = layout / "blobs/sha256" / image.manifest_digest.split(":")[1]
    manifest_path.write_bytes(manifest_path.read_bytes() + b" ")
    with pytest.raises(ArchiveError, match="does not match its digest"):
        open_archive(layout)


async def test_corrupt_layer_is_not_imported(tmp_path: Path) -> None:
    image = small_image(refs=["a:1"])
    layout = write_oci_layout(image, tmp_path / "l")
    (layout / "blobs/sha256" / image.layers[0].digest.split(":")[1]).write_bytes(b"\x1f\x8bgarbage")
    store = ImageStore(tmp_path / "store")
    with pytest.raises(ArchiveError, match="corrupt archive"):
        await store.load_archive(layout)
    assert store.get("a:1") is None


def test_docker_save_with_bad_paths(tmp_path: Path) -> None:
    import tarfile

    from tests.unit.kubelet.images.archives import add_file

    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        add_file(tar, "manifest.json", json.dumps([{"Config": "../../etc/passwd", "Layers": []}]).encode())
    with pytest.raises(ArchiveError, match="bad config path"):
        open_archive(path)
