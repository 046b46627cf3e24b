"""Manifests, indexes and image configs of the OCI and Docker v2 formats.

Why one module: the registry client, the archive loader and the store all need
to answer the same questions about a manifest (is it an index? which child is
ours? which layers and config?) for both families of media types, and to turn
the image config into the few fields a runtime uses.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Registries answer 404 for an OCI manifest unless the client says it accepts it.
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"


class ManifestError(ValueError):
    """A manifest or config is malformed or unsupported; the message is for users."""


def host_platform() -> tuple[str, str]:
    """("linux", "amd64"|"arm64"|...) in Go's GOARCH spelling, which image indexes use."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)
    return "linux", arch


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: tuple[str, str] | None = None  # (os, architecture)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Descriptor:
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str):
            raise ManifestError(f"{where}: descriptor without a digest")
        plat = d.get("platform")
        return cls(
            media_type=str(d.get("mediaType", "")),
            digest=d["digest"],
            size=int(d.get("size", -1)),
            annotations={str(k): str(v) for k, v in (d.get("annotations") or {}).items()},
            platform=(str(plat.get("os", "")), str(plat.get("architecture", ""))) if isinstance(plat, dict) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config blob plus the layer blobs, lowest first."""

    media_type: str
    config: Descriptor
    layers: list[Descriptor]


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return doc


def media_type_of(data: bytes, header_type: str = "") -> str:
    """The manifest's media type: its own `mediaType` field, else the HTTP header, else guessed."""
    doc = parse_json(data, "manifest")
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if header_type and header_type.split(";")[0].strip() not in ("application/json", "text/plain"):
        return header_type.split(";")[0].strip()
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc and "config" in doc:
        return OCI_MANIFEST
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1[0]
    raise ManifestError("cannot tell what kind of manifest this is")


def parse_index(data: bytes) -> list[Descriptor]:
    doc = parse_json(data, "image index")
    children = doc.get("manifests")
    if not isinstance(children, list):
        raise ManifestError("image index has no 'manifests' list")
    return [Descriptor.from_dict(c, f"manifests[{i}]") for i, c in enumerate(children)]


def choose_platform(children: list[Descriptor], want: tuple[str, str] | None = None) -> Descriptor:
    """The child manifest for this node's platform (like a container runtime would pick)."""
    os_name, arch = want or host_platform()
    for child in children:
        if child.platform == (os_name, arch) and child.media_type not in INDEX_TYPES:
            return child
    # Single-platform indexes (OCI layouts written by tools) often omit the platform.
    untagged = [c for c in children if c.platform is None and c.media_type in MANIFEST_TYPES]
    if len(untagged) == 1:
        return untagged[0]
    seen = ", ".join(sorted({"/".join(c.platform) for c in children if c.platform})) or "none"
    raise ManifestError(f"no matching manifest for {os_name}/{arch} in the manifest list entries (has: {seen})")


def parse_manifest(data: bytes, media_type: str) -> Manifest:
    if media_type in DOCKER_SCHEMA1:
        raise ManifestError("Docker schema 1 manifests are not supported (re-push the image with a v2 client)")
    if media_type not in MANIFEST_TYPES:
        raise ManifestError(f"unsupported manifest media type {media_type!r}")
    doc = parse_json(data, "manifest")
    config = Descriptor.from_dict(doc.get("config"), "config")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raise ManifestError("manifest has no 'layers' list")
    layers = [Descriptor.from_dict(d, f"layers[{i}]") for i, d in enumerate(raw_layers)]
    for layer in layers:
        if "nondistributable" in layer.media_type or "foreign" in layer.media_type:
            raise ManifestError(f"layer {layer.digest} is a foreign layer, which cannot be pulled here")
    return Manifest(media_type, config, layers)


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config a runtime needs to start a process (Kubernetes' view)."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # "KEY=value"
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"entrypoint": self.entrypoint, "cmd": self.cmd, "env": self.env, "working_dir": self.working_dir,
                "user": self.user, "stop_signal": self.stop_signal, "labels": self.labels}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageConfig:
        return cls(list(d.get("entrypoint", [])), list(d.get("cmd", [])), list(d.get("env", [])),
                   str(d.get("working_dir", "")), str(d.get("user", "")), str(d.get("stop_signal", "")),
                   dict(d.get("labels", {})))


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ManifestError(f"expected a list of strings, got {type(value).__name__}")


def parse_config(data: bytes) -> tuple[ImageConfig, list[str]]:
    """(runtime config, rootfs diff_ids) of an image config blob."""
    doc = parse_json(data, "image config")
    c = doc.get("config") or {}
    if not isinstance(c, dict):
        raise ManifestError("image config 'config' is not an object")
    rootfs = doc.get("rootfs") or {}
    diff_ids = _str_list(rootfs.get("diff_ids") if isinstance(rootfs, dict) else None)
    cfg = ImageConfig(
        entrypoint=_str_list(c.get("Entrypoint")),
        cmd=_str_list(c.get("Cmd")),
        env=_str_list(c.get("Env")),
        working_dir=str(c.get("WorkingDir") or ""),
        user=str(c.get("User") or ""),
        stop_signal=str(c.get("StopSignal") or ""),
        labels={str(k): str(v) for k, v in (c.get("Labels") or {}).items()},
    )
    return cfg, diff_ids
