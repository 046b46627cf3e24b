"""Write small OCI images from files on this machine, byte-for-byte reproducibly.

Why: the cluster has no internet, so its `busybox` image is built from Debian's
busybox-static binary; tests build their own images (whiteouts, several layers)
the same way. Reproducible (fixed times and owners, sorted entries, gzip without
name/mtime, canonical JSON) so the same inputs always give the same digests and
re-seeding a registry is a no-op.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelet.images.blobs import digest_of
from kubelet.images.manifest import (
    CONTAINERD_NAME_ANNOTATION,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    REF_NAME_ANNOTATION,
    host_platform,
)

EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class LayerEntry:
    """One tar member: kind is "file", "dir", "symlink", "hardlink" or "char" (device)."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""  # symlink/hardlink target
    uid: int = 0
    gid: int = 0


@dataclass
class BuiltLayer:
    blob: bytes  # gzip-compressed tar
    digest: str  # of the blob
    diff_id: str  # of the uncompressed tar


def build_layer(entries: list[LayerEntry], compress: bool = True) -> BuiltLayer:
    """A layer tar of `entries` in the given order (callers sort when they want)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, e.uid, e.gid, "", ""
            info.mode = e.mode
            body: io.BytesIO | None = None
            if e.kind == "file":
                info.type, info.size, body = tarfile.REGTYPE, len(e.data), io.BytesIO(e.data)
            elif e.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
            elif e.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.target
            elif e.kind == "char":
                info.type = tarfile.CHRTYPE
            else:
                raise ValueError(f"unknown layer entry kind {e.kind!r}")
            tar.addfile(info, body)
    plain = raw.getvalue()
    if not compress:
        return BuiltLayer(plain, digest_of(plain), digest_of(plain))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=6) as gz:
        gz.write(plain)
    blob = packed.getvalue()
    return BuiltLayer(blob, digest_of(blob), digest_of(plain))


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class BuiltImage:
    """An image as blobs: what an OCI layout, an archive or a registry push needs."""

    manifest: bytes
    config: bytes
    layers: list[BuiltLayer]
    refs: list[str] = field(default_factory=list)

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    def blobs(self) -> dict[str, bytes]:
        out = {self.config_digest: self.config, self.manifest_digest: self.manifest}
        out.update({layer.digest: layer.blob for layer in self.layers})
        return out


def build_image(layers: list[BuiltLayer], cmd: list[str] | None = None, entrypoint: list[str] | None = None,
                env: list[str] | None = None, working_dir: str = "", user: str = "",
                refs: list[str] | None = None, created_by: str = "kubelite image builder",
                extra_config: dict[str, Any] | None = None,
                history: list[dict[str, Any]] | None = None) -> BuiltImage:
    """`extra_config` adds container-config keys (ExposedPorts, Labels, ...); `history`
    replaces the one-entry-per-layer default (a Dockerfile build records every step)."""
    os_name, arch = host_platform()
    container: dict[str, Any] = {"Env": env if env is not None else [DEFAULT_PATH]}
    container.update(extra_config or {})
    if cmd:
        container["Cmd"] = cmd
    if entrypoint:
        container["Entrypoint"] = entrypoint
    if working_dir:
        container["WorkingDir"] = working_dir
    if user:
        container["User"] = user
    config = canonical_json({
        "architecture": arch, "os": os_name, "created": EPOCH, "config": container,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history if history is not None else [{"created": EPOCH, "created_by": created_by}
                                                         for _ in layers],
    })
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": len(layer.blob)}
                   for layer in layers],
    })
    return BuiltImage(manifest, config, layers, list(refs or []))


def write_oci_layout(image: BuiltImage, out: Path) -> Path:
    """Write (or add to) an OCI image layout directory; every ref gets an index entry."""
    (out / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (out / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    for digest, data in image.blobs().items():
        (out / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
    index_path = out / "index.json"
    manifests: list[dict[str, Any]] = []
    if index_path.exists():
        manifests = json.loads(index_path.read_bytes()).get("manifests", [])
    os_name, arch = host_platform()
    for ref in image.refs or [""]:
        entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                                 "size": len(image.manifest), "platform": {"os": os_name, "architecture": arch}}
        if ref:
            entry["annotations"] = {REF_NAME_ANNOTATION: ref}
            if "/" in ref or ":" in ref:  # a full name, not a bare tag
                entry["annotations"][CONTAINERD_NAME_ANNOTATION] = ref
        manifests = [m for m in manifests if m.get("annotations", {}).get(REF_NAME_ANNOTATION) != ref or not ref]
        manifests.append(entry)
    index_path.write_bytes(canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
    return out


def tar_directory(src: Path, dest: Path) -> Path:
    """A reproducible tar of a directory's contents (e.g. an OCI layout as one file)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(src.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(src)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return dest


# ---- busybox --------------------------------------------------------------

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"
BASE_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
             "run": 0o755, "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
             "usr/sbin": 0o755, "var": 0o755, "var/tmp": 0o1777, "var/www": 0o755}


def busybox_applets(busybox: Path) -> list[str]:
    """Applet install paths (`bin/sh`, `usr/bin/wget`, ...) as the binary itself lists them."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, check=True, timeout=30).stdout
    return sorted({line.strip() for line in out.decode().splitlines() if line.strip()})


def busybox_version(busybox: Path) -> str:
    out = subprocess.run([str(busybox)], capture_output=True, timeout=30).stdout.decode(errors="replace")
    first = out.splitlines()[0] if out else "BusyBox"
    return first.split(" multi-call")[0].strip()


def build_busybox_image(busybox: Path = Path("/bin/busybox"), ref: str = "busybox:latest") -> BuiltImage:
    """A one-layer busybox image: the static binary, applet symlinks, /etc/passwd+group, /tmp."""
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} not found (install Debian's busybox-static)")
    applets = [a for a in busybox_applets(busybox) if a != "bin/busybox" and ".." not in a]
    dirs = dict(BASE_DIRS)
    for applet in applets:
        parent = applet.rsplit("/", 1)[0]
        dirs.setdefault(parent, 0o755)
    entries = [LayerEntry(f"{d}/", "dir", mode=mode) for d, mode in sorted(dirs.items())]
    entries.append(LayerEntry("bin/busybox", "file", busybox.read_bytes(), 0o755))
    entries += [LayerEntry(a, "symlink", target="/bin/busybox", mode=0o777) for a in applets]
    entries.append(LayerEntry("etc/passwd", "file", PASSWD))
    entries.append(LayerEntry("etc/group", "file", GROUP))
    layer = build_layer(entries)
    return build_image([layer], cmd=["sh"], refs=[ref],
                       created_by=f"kubelite tools/build_busybox_image.py from {busybox_version(busybox)}")
