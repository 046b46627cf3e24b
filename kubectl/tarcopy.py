"""Tar archives for `kctl cp`: build one from a local path, unpack one safely under a local path.

Why pure: the remote side is plain `tar` run through exec; what must be right (and is tested
without a node) is the renaming of the top entry to the destination name and refusing
entries that would escape the destination (absolute paths, `..`, links, devices).
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from pathlib import Path

from kubectl.errors import CliError


def pack(source: Path, arcname: str) -> bytes:
    """A tar of `source` (file or directory tree) whose top entry is named `arcname`."""
    if not source.exists():
        raise CliError(f"{source} doesn't exist in local filesystem")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(source), arcname=arcname, recursive=True)
    return buffer.getvalue()


def unpack(data: bytes, top: str, dest: Path) -> list[str]:
    """Extract entries under `top` as `dest` (renamed); returns warnings for skipped entries."""
    warnings: list[str] = []
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except tarfile.TarError as exc:
        raise CliError(f"the container sent no valid tar archive: {exc}") from None
    with archive:
        for member in archive.getmembers():
            name = posixpath.normpath(member.name)
            if name != top and not name.startswith(top + "/"):
                continue
            relative = name[len(top):].lstrip("/")
            if name.startswith(("/", "../")) or ".." in relative.split("/"):
                warnings.append(f"warning: skipping {member.name}: it points outside the destination")
                continue
            target = dest / relative if relative else dest
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                if source is None:
                    continue
                with source, target.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                target.chmod(member.mode & 0o777)
            else:
                warnings.append(f"warning: skipping {member.name}: only regular files and directories are copied")
    return warnings
