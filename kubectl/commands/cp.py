"""`kctl cp POD:PATH LOCAL` and `kctl cp LOCAL POD:PATH`: copy files through exec + tar.

The container must have `tar` (as with kubectl). Downloads run `tar cf - -C DIR NAME` and
unpack locally; uploads stream a local tar into `tar xmf - -C DIR`.
"""

from __future__ import annotations

import argparse
import posixpath
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubectl import tarcopy
from kubectl.commands.logs import pick_container
from kubectl.errors import CliError
from kubectl.output import warn
from kubectl.printers import dig
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session

EXAMPLES = """\
Examples:
  # Copy /tmp/foo from pod web to the local file ./foo
  kctl cp web:/tmp/foo ./foo

  # Copy a local directory into a pod's container
  kctl cp ./site web:/www -c nginx

  # A pod in another namespace
  kctl cp staging/web:/var/log/app.log ./app.log
"""
CHUNK = 256 * 1024


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cp", parents=parents, help="copy files to and from containers",
                       description="kctl cp [NAMESPACE/]POD:PATH LOCAL | LOCAL [NAMESPACE/]POD:PATH",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's default one)")
    p.set_defaults(func=run)


def remote_spec(text: str) -> tuple[str, str, str] | None:
    """`[ns/]pod:path` -> (namespace, pod, path); None for a local path."""
    head, sep, path = text.partition(":")
    if not sep or not head or Path(text).exists():
        return None
    namespace, _, pod = head.rpartition("/")
    if not path:
        raise CliError(f"{text}: a path in the container is required (POD:PATH)")
    return namespace, pod, path


async def _exec(session: Session, pod: Obj, container: str, command: list[str],
                stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    out: list[bytes] = []
    err: list[bytes] = []

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), CHUNK):
            yield data[start:start + CHUNK]

    code = await session.client.exec(
        str(dig(pod, "metadata", "namespace")), str(dig(pod, "metadata", "name")), command,
        container=container, on_output=lambda fd, data: (out if fd == 1 else err).append(data),
        stdin=chunks(stdin) if stdin is not None else None)
    return code, b"".join(out), b"".join(err)


async def run(session: Session, args: argparse.Namespace) -> int:
    src, dst = remote_spec(args.source), remote_spec(args.dest)
    if (src is None) == (dst is None):
        raise CliError("one of source or destination must be a remote file specification (POD:PATH), "
                       "the other a local path")
    namespace, pod_name, remote = src or dst  # type: ignore[misc]
    pod = await session.get(resolve_kind("pods"), pod_name, namespace or None)
    container = pick_container(pod, args.container)
    if src is not None:
        return await _download(session, pod, container, remote, Path(args.dest))
    return await _upload(session, pod, container, Path(args.source), remote)


async def _download(session: Session, pod: Obj, container: str, remote: str, local: Path) -> int:
    path = posixpath.normpath(remote)
    parent, name = posixpath.split(path)
    code, data, err = await _exec(session, pod, container, ["tar", "cf", "-", "-C", parent or "/", name])
    if code != 0:
        raise CliError(f"cannot read {remote} in the container: {err.decode(errors='replace').strip() or code}")
    target = local / name if local.is_dir() else local
    for line in tarcopy.unpack(data, name, target):
        warn(line)
    return 0


async def _upload(session: Session, pod: Obj, container: str, local: Path, remote: str) -> int:
    path = posixpath.normpath(remote)
    code, _, _ = await _exec(session, pod, container, ["test", "-d", path])
    if code == 0 or remote.endswith("/"):  # into an existing directory, under the source's name
        path = posixpath.join(path, local.name)
    parent, name = posixpath.split(path)
    data = tarcopy.pack(local, name)
    code, _, err = await _exec(session, pod, container, ["tar", "xmf", "-", "-C", parent or "/"], stdin=data)
    if code != 0:
        raise CliError(f"cannot write {remote} in the container: {err.decode(errors='replace').strip() or code}")
    return 0
