"""Whiteouts work through a real overlay mount; archives load into the registry with `kubelite image load`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubelet.images import ImageStore
from kubelet.images.builder import LayerEntry, build_image, build_layer, tar_directory, write_oci_layout
from kubelite.image import run as image_main
from kubelite.registry import push_built
from tests.integration.kubelet.images.conftest import StartRegistry
from tests.unit.kubelet.images.archives import docker_save_tar, small_image


@pytest.mark.requires_root("overlay mounts and whiteout devices need root")
async def test_whiteouts_hide_lower_files_in_overlay(tmp_path: Path, registry_factory: StartRegistry) -> None:
    lower = build_layer([
        LayerEntry("a/", "dir", mode=0o755), LayerEntry("a/gone", "file", b"1"), LayerEntry("a/kept", "file", b"2"),
        LayerEntry("top", "file", b"3"), LayerEntry("opaque/", "dir", mode=0o755), LayerEntry("opaque/old", "file"),
    ])
    upper = build_layer([
        LayerEntry("a/", "dir", mode=0o755), LayerEntry("a/.wh.gone", "file"), LayerEntry(".wh.top", "file"),
        LayerEntry("opaque/", "dir", mode=0o755), LayerEntry("opaque/.wh..wh..opq", "file"),
        LayerEntry("opaque/new", "file", b"4"),
    ])
    reg = await registry_factory()
    await push_built(reg.address, build_image([lower, upper]), "test/whiteouts", "1")
    image = await ImageStore(tmp_path / "store", default_registry=reg.address).ensure(
        "test/whiteouts:1", "IfNotPresent", None, None)
    merged, work, up = tmp_path / "merged", tmp_path / "work", tmp_path / "upper"
    for d in (merged, work, up):
        d.mkdir()
    lowerdir = ":".join(str(p) for p in reversed(image.layer_dirs))  # overlay wants the top layer first
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowerdir},upperdir={up},workdir={work}",
                    str(merged)], check=True, capture_output=True, timeout=30)
    try:
        assert sorted(os.listdir(merged / "a")) == ["kept"]
        assert not (merged / "top").exists()
        assert sorted(os.listdir(merged / "opaque")) == ["new"]
    finally:
        subprocess.run(["umount", str(merged)], check=True, timeout=30)


async def test_image_load_docker_save_and_oci(tmp_path: Path, registry_factory: StartRegistry,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    reg = await registry_factory()
    saved = docker_save_tar(tmp_path / "saved.tar", small_image(b"from docker", compress=False), ["myapp:1.0"])
    layout = write_oci_layout(small_image(b"from oci", refs=["docker.io/team/tool:2"]), tmp_path / "layout")
    oci_tar = tar_directory(write_oci_layout(small_image(b"oci tar", refs=["quay.io/x/y:3"]), tmp_path / "l2"),
                            tmp_path / "oci.tar")
    assert await image_main(["load", str(saved), str(layout), str(oci_tar), "--registry", reg.address]) == 0
    out = capsys.readouterr().out
    assert f"as {reg.address}/library/myapp:1.0" in out and "in pods: image: myapp:1.0" in out
    # A node pulls them like any other image.
    store = ImageStore(tmp_path / "node", default_registry=reg.address)
    for ref, text in [("myapp:1.0", b"from docker"), ("team/tool:2", b"from oci"), ("x/y:3", b"oci tar")]:
        image = await store.ensure(ref, "IfNotPresent", None, None)
        assert (image.layer_dirs[0] / "data/file").read_bytes() == text


async def test_image_load_errors(tmp_path: Path, registry_factory: StartRegistry,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    reg = await registry_factory()
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"definitely not a tar" * 50)
    assert await image_main(["load", str(junk), "--registry", reg.address]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a readable tar archive" in err and "Traceback" not in err
    assert await image_main(["load", str(tmp_path / "nope.tar"), "--registry", reg.address]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert await image_main(["load", str(junk), "--data-dir", str(tmp_path / "no-cluster")]) == 1
    assert "no cluster registry recorded" in capsys.readouterr().err
