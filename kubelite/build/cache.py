"""Built layers on disk and the step cache that finds them again.

Layout under the cache root (`<cluster data dir>/build` or `~/.cache/kubelite/build`):
  blobs/sha256/<hex>  compressed layer blobs (kubelet's content-addressed BlobStore)
  layers/<hex>/       each layer unpacked once (by kubelet's unpacker), an overlay lowerdir
  steps/<key>.json    step cache: key -> the layer that step produced
  images/             base images pulled from the registry (kubelet's ImageStore)

Why keys chain: a step's key hashes its parent's key, the instruction after
variable substitution, the build args in scope and (COPY/ADD) the digest of the
copied content, so a change anywhere invalidates exactly that step and the
steps after it, like Docker's cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubelet.images.blobs import BlobStore
from kubelet.images.builder import BuiltLayer, LayerEntry
from kubelet.images.unpack import unpack_layer


@dataclass(frozen=True)
class Layer:
    """A layer a build can stack: its blob (for pushing) and unpacked directory (for RUN)."""

    digest: str
    diff_id: str
    blob: Path
    dir: Path


def step_key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def entries_digest(entries: Iterable[LayerEntry]) -> str:
    """A digest of what COPY/ADD would write (paths, kinds, modes, owners, bytes)."""
    h = hashlib.sha256()
    for e in entries:
        h.update(json.dumps([e.path, e.kind, e.mode, e.uid, e.gid, e.target,
                             hashlib.sha256(e.data).hexdigest()]).encode())
    return "sha256:" + h.hexdigest()


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = BlobStore(root)
        self.layers = root / "layers"
        self.steps = root / "steps"
        for d in (self.layers, self.steps):
            d.mkdir(parents=True, exist_ok=True)

    def _unpacked(self, digest: str, diff_id: str) -> Path:
        dest = self.layers / diff_id.split(":", 1)[1]
        if dest.is_dir():
            return dest
        tmp = self.layers / f".{uuid.uuid4().hex}"
        try:
            unpack_layer(self.blobs.path(digest), tmp, diff_id)
            try:
                os.replace(tmp, dest)
            except OSError:
                if not dest.is_dir():  # else a concurrent build unpacked the same layer first
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def store(self, layer: BuiltLayer) -> Layer:
        """Keep a freshly written layer (blob + unpacked dir)."""
        self.blobs.put(layer.blob, layer.digest)
        return Layer(layer.digest, layer.diff_id, self.blobs.path(layer.digest),
                     self._unpacked(layer.digest, layer.diff_id))

    def get(self, key: str) -> Layer | None:
        try:
            doc = json.loads((self.steps / f"{key}.json").read_bytes())
            digest, diff_id = str(doc["digest"]), str(doc["diff_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not self.blobs.has(digest):
            return None
        return Layer(digest, diff_id, self.blobs.path(digest), self._unpacked(digest, diff_id))

    def put(self, key: str, layer: Layer) -> None:
        path = self.steps / f"{key}.json"
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps({"digest": layer.digest, "diff_id": layer.diff_id}))
        os.replace(tmp, path)
