"""Unpack one image layer (a tar diff) into its own directory, ready as an overlay lowerdir.

Why a directory per layer: containers' root filesystems are overlay mounts of
the image's layer directories, so identical layers are unpacked once and shared
by every image and container that uses them. A layer tar expresses deletions
with `.wh.` marker files; overlayfs expresses them with a 0/0 character device
(deleted entry) and the `trusted.overlay.opaque=y` xattr (directory replaces the
lower one), so the unpacker translates one into the other.

Why so careful about paths: a layer comes from outside. Entries with `..`,
absolute names, or whose parent is a symlink created earlier in the same tar
could otherwise write outside the layer directory (onto the host).
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO

from kubelet.images.blobs import new_hasher
from kubelet.images.errors import LayerError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class _HashingReader(io.RawIOBase):
    """Passes a stream through while hashing it (the diff_id is the digest of the plain tar)."""

    def __init__(self, inner: IO[bytes], digest: str) -> None:
        self._inner = inner
        self.hash = new_hasher(digest)
        self.algorithm = digest.split(":", 1)[0]

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.hash.update(data)
        return n


def _open_decompressed(path: Path) -> IO[bytes]:
    """Detect the compression from magic bytes: registries' media types are not always honest."""
    f = open(path, "rb")
    magic = f.read(4)
    f.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        f.close()
        raise LayerError(f"layer {path.name} is zstd-compressed, which this node does not support")
    return f


def _safe_parts(name: str) -> list[str]:
    """The path components of a member name, refusing anything that could leave the layer."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise LayerError(f"layer entry {name!r} escapes the layer directory")
    return parts


class _Unpacker:
    def __init__(self, dest: Path, as_root: bool) -> None:
        self.dest = dest
        self.as_root = as_root
        self.dirs: list[tuple[Path, int, int]] = []  # (path, mode, mtime), applied at the end
        self.whiteouts_skipped = 0

    def _check_parents(self, parts: list[str], name: str) -> None:
        """Refuse a path whose existing parents are not real directories (no following symlinks)."""
        self._walk_parents(parts, name, create=False)

    def _parent(self, parts: list[str], name: str) -> Path:
        """Create missing parent directories; refuse parents that are not real directories."""
        return self._walk_parents(parts, name, create=True)

    def _walk_parents(self, parts: list[str], name: str, create: bool) -> Path:
        """One walk for both: a symlinked parent would let a layer write outside `dest`."""
        current = self.dest
        for part in parts[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    return current
                os.mkdir(current, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise LayerError(f"layer entry {name!r}: parent {part!r} is not a directory (symlink?)")
        return current

    @staticmethod
    def _remove(path: Path, keep_dir: bool = False) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def _whiteout(self, parent: Path, base: str, name: str) -> None:
        if base == OPAQUE_MARKER:
            try:
                os.setxattr(parent, OPAQUE_XATTR, b"y")
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES) or self.as_root:
                    raise LayerError(f"cannot mark {name!r} opaque: {exc.strerror}") from None
                self.whiteouts_skipped += 1
            return
        target = parent / base[len(WHITEOUT_PREFIX):]
        if not target.name or target.name in (".", ".."):
            raise LayerError(f"layer entry {name!r} is a malformed whiteout")
        self._remove(target)
        try:
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except PermissionError:
            if self.as_root:
                raise LayerError(f"cannot create whiteout for {name!r}: permission denied") from None
            self.whiteouts_skipped += 1  # unprivileged: no overlay anyway

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = _safe_parts(member.name)
        if not parts:
            if member.isdir():  # "./" itself: the layer root's mode
                self.dirs.append((self.dest, member.mode & 0o7777, int(member.mtime)))
            return
        parent = self._parent(parts, member.name)
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, base, member.name)
            return
        path = parent / base
        if member.isdir():
            self._remove(path, keep_dir=True)
            if not path.is_dir():
                os.mkdir(path, 0o700)
        else:
            self._remove(path)
            if member.isreg():
                src = tar.extractfile(member)
                assert src is not None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while piece := src.read(1 << 20):
                        out.write(piece)
            elif member.issym():
                os.symlink(member.linkname, path)
            elif member.islnk():
                link_parts = _safe_parts(member.linkname)
                self._check_parents(link_parts, member.linkname)
                source = self.dest.joinpath(*link_parts)
                if not link_parts or not os.path.lexists(source):
                    raise LayerError(f"layer entry {member.name!r}: hard link target {member.linkname!r} "
                                     "is not in this layer")
                os.link(source, path, follow_symlinks=False)
                return  # a hard link shares the target's metadata
            elif member.ischr() or member.isblk() or member.isfifo():
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
                try:
                    os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
                except PermissionError:
                    return  # devices come from the runtime's /dev anyway
            else:
                return  # unknown entry types are ignored, like other unpackers
        self._metadata(path, member)

    def _metadata(self, path: Path, member: tarfile.TarInfo) -> None:
        if self.as_root:
            os.lchown(path, member.uid, member.gid)
        if member.isdir():
            self.dirs.append((path, member.mode & 0o7777, int(member.mtime)))
        elif not member.issym():
            os.chmod(path, member.mode & 0o7777)  # after chown: chown clears setuid bits
        if not member.issym():
            for key, value in member.pax_headers.items():
                if key.startswith("SCHILY.xattr.") and self.as_root:
                    try:
                        os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                                    follow_symlinks=False)
                    except OSError:
                        pass  # e.g. security.* xattrs the filesystem refuses
        if not member.isdir():
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        """Directory modes and times last: writing entries would change them (and 0555 dirs block writes)."""
        for path, mode, mtime in reversed(self.dirs):
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def unpack_layer(blob: Path, dest: Path, diff_id: str | None = None) -> int:
    """Unpack the layer blob (plain or gzip tar) into the new directory `dest`.

    Verifies the uncompressed stream against `diff_id` when given. Returns the
    number of whiteouts that could not be represented (unprivileged only).
    Raises LayerError; `dest` is then left for the caller to remove.
    """
    dest.mkdir(mode=0o755)
    as_root = os.geteuid() == 0
    unpacker = _Unpacker(dest, as_root)
    try:
        raw = _open_decompressed(blob)
    except OSError as exc:
        raise LayerError(f"cannot read layer {blob.name}: {exc}") from None
    with raw:
        hashing = _HashingReader(raw, diff_id or "sha256:")
        stream = io.BufferedReader(hashing, 1 << 20)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    unpacker.entry(tar, member)
            while stream.read(1 << 20):
                pass  # the trailing zero blocks are part of the diff_id
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise LayerError(f"layer {blob.name} is not a valid tar archive: {exc}") from None
        except OSError as exc:
            raise LayerError(f"unpacking layer {blob.name} failed: {exc}") from None
        actual = f"{hashing.algorithm}:{hashing.hash.hexdigest()}"
    if diff_id and actual != diff_id:
        raise LayerError(f"layer {blob.name}: uncompressed content is {actual}, the image config says {diff_id}")
    unpacker.finish()
    return unpacker.whiteouts_skipped

