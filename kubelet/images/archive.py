"""Read image archives: OCI image layouts (directory or tar) and `docker save` tarballs.

Why one reader for both consumers: `kubelite image load` pushes the images to
the cluster registry, and a node's ImageStore can import them directly; both
need the same answer to "which images, under which names, made of which
verified blobs". Tarballs are unpacked into a private temporary directory with
tarfile's `data` filter, so a hostile archive cannot write elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from kubelet.images.blobs import digest_file, digest_of
from kubelet.images.errors import ArchiveError
from kubelet.images.manifest import (
    CONTAINERD_NAME_ANNOTATION,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    REF_NAME_ANNOTATION,
    Manifest,
    ManifestError,
    choose_platform,
    parse_index,
    parse_manifest,
)
from kubelet.images.reference import is_digest


@dataclass
class ArchiveImage:
    """One image of an archive: its names as written there, and its (platform) manifest."""

    refs: list[str]
    manifest_bytes: bytes
    media_type: str
    manifest: Manifest

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest_bytes)


@dataclass
class ImageArchive:
    """The images of an archive and where their blobs are; `close()` removes any scratch copy."""

    source: Path
    blob_root: Path  # blobs are at blob_root/<alg>/<hex>
    images: list[ArchiveImage] = field(default_factory=list)
    _scratch: Path | None = None

    def blob_path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise ArchiveError(f"{self.source}: invalid digest {digest!r}")
        path = self.blob_root / digest.replace(":", "/", 1)
        if not path.is_file():
            raise ArchiveError(f"{self.source}: blob {digest} is missing from the archive")
        return path

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ArchiveError(f"{what} is missing") from None
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{what} is not valid JSON: {exc}") from None


def _read_verified(archive: ImageArchive, digest: str) -> bytes:
    data = archive.blob_path(digest).read_bytes()
    if digest_of(data) != digest:
        raise ArchiveError(f"{archive.source}: blob {digest} does not match its digest (corrupt archive)")
    return data


def _oci_refs(annotations: dict[str, str], fallback_name: str) -> list[str]:
    full = annotations.get(CONTAINERD_NAME_ANNOTATION)
    if full:
        return [full]
    name = annotations.get(REF_NAME_ANNOTATION, "")
    if not name:
        return []
    if "/" not in name and ":" not in name and "@" not in name:
        return [f"{fallback_name}:{name}"]  # a bare tag: the layout names no repository
    return [name]


def _read_oci_layout(archive: ImageArchive, root: Path, fallback_name: str) -> None:
    layout = _load_json(root / "oci-layout", f"{archive.source}: oci-layout")
    if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
        raise ArchiveError(f"{archive.source}: oci-layout has no imageLayoutVersion")
    index_path = root / "index.json"
    try:
        children = parse_index(index_path.read_bytes())
    except (OSError, ManifestError) as exc:
        raise ArchiveError(f"{archive.source}: index.json: {exc}") from None
    by_digest: dict[str, ArchiveImage] = {}
    for child in children:
        refs = _oci_refs(child.annotations, fallback_name)
        desc = child
        try:
            if child.media_type in INDEX_TYPES:
                desc = choose_platform(parse_index(_read_verified(archive, child.digest)))
            data = _read_verified(archive, desc.digest)
            manifest = parse_manifest(data, desc.media_type or json.loads(data).get("mediaType", ""))
        except ManifestError as exc:
            raise ArchiveError(f"{archive.source}: image {refs or child.digest}: {exc}") from None
        if desc.digest in by_digest:
            by_digest[desc.digest].refs += [r for r in refs if r not in by_digest[desc.digest].refs]
        else:
            by_digest[desc.digest] = ArchiveImage(refs, data, manifest.media_type, manifest)
    archive.images = list(by_digest.values())


def _read_docker_save(archive: ImageArchive, root: Path) -> None:
    """`docker save`: manifest.json lists config file, RepoTags and layer tar paths per image.

    There is no registry manifest in the archive, so one is made (Docker v2
    schema, layers as stored: plain tar or gzip), with blobs named by digest.
    """
    entries = _load_json(root / "manifest.json", f"{archive.source}: manifest.json")
    if not isinstance(entries, list):
        raise ArchiveError(f"{archive.source}: manifest.json is not a list")
    blob_dir = archive.blob_root / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)

    def intern(rel: object, what: str) -> tuple[str, int, Path]:
        if not isinstance(rel, str) or rel.startswith("/") or ".." in rel.split("/"):
            raise ArchiveError(f"{archive.source}: bad {what} path {rel!r}")
        path = root / rel
        if not path.is_file():
            raise ArchiveError(f"{archive.source}: {what} {rel} is missing from the archive")
        digest = digest_file(path)
        target = blob_dir / digest.split(":", 1)[1]
        if not target.exists():
            if path.stat().st_dev == blob_dir.stat().st_dev:
                os.link(path, target)
            else:
                shutil.copyfile(path, target)
        return digest, target.stat().st_size, target

    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ArchiveError(f"{archive.source}: manifest.json[{i}] is not an object")
        config_digest, config_size, _ = intern(entry.get("Config"), "config")
        layers = []
        for layer_rel in entry.get("Layers") or []:
            digest, size, path = intern(layer_rel, "layer")
            with open(path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            layers.append({"mediaType": DOCKER_LAYER_GZIP if gz else DOCKER_LAYER, "digest": digest, "size": size})
        doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
               "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": config_size},
               "layers": layers}
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        tags = [str(t) for t in entry.get("RepoTags") or []]
        archive.images.append(ArchiveImage(tags, data, DOCKER_MANIFEST, parse_manifest(data, DOCKER_MANIFEST)))


def open_archive(path: Path, name: str | None = None) -> ImageArchive:
    """Open an OCI layout directory, an OCI layout tar, or a docker-save tar.

    `name` is the repository for layouts whose index only gives bare tags
    (default: the file name without extension). Raises ArchiveError with a
    message fit for users.
    """
    fallback = name or path.name.split(".")[0] or "image"
    if path.is_dir():
        archive = ImageArchive(path, path / "blobs")
        root = path
    elif path.is_file():
        scratch = Path(tempfile.mkdtemp(prefix="kubelite-image-"))
        archive = ImageArchive(path, scratch / "blobs", _scratch=scratch)
        root = scratch
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            archive.close()
            raise ArchiveError(f"{path}: not a readable tar archive ({exc})") from None
    else:
        raise ArchiveError(f"{path}: no such file or directory")
    try:
        if (root / "manifest.json").is_file():
            _read_docker_save(archive, root)
        elif (root / "index.json").is_file():
            _read_oci_layout(archive, root, fallback)
        else:
            raise ArchiveError(f"{path}: neither an OCI image layout (index.json) nor a docker-save archive "
                               "(manifest.json)")
        if not archive.images:
            raise ArchiveError(f"{path}: the archive contains no images")
        for image in archive.images:
            for desc in (image.manifest.config, *image.manifest.layers):
                archive.blob_path(desc.digest)  # fail early, with the archive's name, on missing blobs
    except BaseException:
        archive.close()
        raise
    return archive
