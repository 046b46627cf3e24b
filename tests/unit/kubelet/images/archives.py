"""Helpers building image archives the way `docker save` and OCI tools write them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from kubelet.images.builder import BuiltImage, LayerEntry, build_image, build_layer


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save_tar(path: Path, image: BuiltImage, tags: list[str]) -> Path:
    """A legacy `docker save` archive: manifest.json + <id>.json + <n>/layer.tar (plain tars)."""
    with tarfile.open(path, "w") as tar:
        config_name = image.config_digest.split(":")[1] + ".json"
        add_file(tar, config_name, image.config)
        layer_names = []
        for i, layer in enumerate(image.layers):
            name = f"{i:064x}/layer.tar"
            add_file(tar, name, layer.blob)
            layer_names.append(name)
        manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
        add_file(tar, "manifest.json", json.dumps(manifest).encode())
        add_file(tar, "repositories", b"{}")
    return path


def small_image(text: bytes = b"hello", compress: bool = True, refs: list[str] | None = None) -> BuiltImage:
    layer = build_layer([LayerEntry("data/", "dir", mode=0o755), LayerEntry("data/file", "file", text)], compress)
    return build_image([layer], cmd=["cat", "/data/file"], refs=refs)
