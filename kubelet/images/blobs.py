"""A content-addressed blob store: every file is named by the digest of its bytes.

Why verify on the way in: a blob's name is a promise about its content; if a
registry, network or archive hands us different bytes, they must never land
under that name (a later pull or container would trust them). Writers stream
into a temporary file while hashing and only rename into place when the digest
(and the announced size) match, so readers never see partial blobs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from kubelet.images.errors import LayerError
from kubelet.images.reference import is_digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            h.update(piece)
    return "sha256:" + h.hexdigest()


def new_hasher(digest: str) -> hashlib._Hash:
    """A hash object of the digest's algorithm (sha256 or sha512)."""
    algorithm = digest.split(":", 1)[0]
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algorithm)


class DigestMismatch(Exception):
    """Content did not match its digest or size; the message names both."""


class BlobWriter:
    """Streams one blob into the store; `commit()` verifies and publishes it."""

    def __init__(self, store: BlobStore, digest: str, size: int | None) -> None:
        self._store = store
        self.digest = digest
        self._size = size
        self._hash = new_hasher(digest)
        self._written = 0
        self._tmp = store.tmp_dir / f"{digest.replace(':', '-')}.{uuid.uuid4().hex}"
        self._file: BinaryIO | None = open(self._tmp, "wb")

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._written += len(data)
        if self._size is not None and self._written > self._size:
            raise DigestMismatch(f"blob {self.digest}: more data than the announced {self._size} bytes")
        self._hash.update(data)
        self._file.write(data)

    def commit(self) -> Path:
        assert self._file is not None
        self._file.close()
        self._file = None
        actual = f"{self.digest.split(':', 1)[0]}:{self._hash.hexdigest()}"
        try:
            if self._size is not None and self._written != self._size:
                raise DigestMismatch(f"blob {self.digest}: got {self._written} bytes, expected {self._size}")
            if actual != self.digest:
                raise DigestMismatch(f"blob digest mismatch: expected {self.digest}, content is {actual}")
        except DigestMismatch:
            self._tmp.unlink(missing_ok=True)
            raise
        final = self._store.path(self.digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, final)
        return final

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


class BlobStore:
    """`<root>/blobs/<alg>/<hex>` plus a scratch dir for in-flight writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # In-flight writes of a previous (killed) kubelet are garbage.
        for stale in self.tmp_dir.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise LayerError(f"invalid digest {digest!r}")
        algorithm, hexpart = digest.split(":", 1)
        return self.root / "blobs" / algorithm / hexpart

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def writer(self, digest: str, size: int | None = None) -> BlobWriter:
        return BlobWriter(self, digest, size)

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store bytes (verifying `digest` when given) and return their digest."""
        digest = digest or digest_of(data)
        if not self.has(digest):
            w = self.writer(digest, len(data))
            try:
                w.write(data)
                w.commit()
            except BaseException:
                w.abort()
                raise
        return digest

    def put_file(self, src: Path, digest: str) -> None:
        """Copy a file in, verifying it hashes to `digest`."""
        if self.has(digest):
            return
        w = self.writer(digest, src.stat().st_size)
        try:
            with open(src, "rb") as f:
                while piece := f.read(1 << 20):
                    w.write(piece)
            w.commit()
        except BaseException:
            w.abort()
            raise

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def list(self) -> list[str]:
        out: list[str] = []
        base = self.root / "blobs"
        if base.is_dir():
            for alg in sorted(base.iterdir()):
                out += [f"{alg.name}:{p.name}" for p in sorted(alg.iterdir()) if is_digest(f"{alg.name}:{p.name}")]
        return out
