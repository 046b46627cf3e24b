"""`kubelite image load FILE...`: put images from archives into the local cluster's registry.

Why via the registry: every node pulls from the cluster registry already, so
one push makes an image available to all nodes (present and future) with the
same pull path, policies and events as any other image. Names resolve like
pod `image:` fields: `busybox:1.36` and `docker.io/library/busybox:1.36` are
stored as `library/busybox:1.36`, so a pod saying `image: busybox:1.36` finds
it; names of other registries keep their path (`quay.io/x/y:1` -> `x/y:1`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from kubectl.config import config_path
from kubelet.images.archive import ImageArchive, open_archive
from kubelet.images.errors import ArchiveError, RegistryError
from kubelet.images.reference import DOCKER_HUB, InvalidReference, parse_reference
from kubelite import kctlcontext
from kubelite.localcluster import default_data_dir
from kubelite.registry import load_registry, push_image, registry_answers


class LoadError(Exception):
    """Something the user must fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite image", description="manage images of the local cluster")
    sub = p.add_subparsers(dest="action", required=True)
    load = sub.add_parser("load", help="push images from OCI layouts or docker-save tarballs to the cluster registry")
    load.add_argument("files", nargs="+", type=Path, help="OCI layout directory or tar, or `docker save` tar")
    load.add_argument("--name", default=None, metavar="CLUSTER",
                      help="the cluster to load into, by its kctl context name (`kubelite-710`; default: the "
                           "current context of kctl's config)")
    load.add_argument("--data-dir", type=Path, default=None, help="the cluster's data directory (instead of --name)")
    load.add_argument("--registry", default=None, help="registry HOST:PORT (default: the cluster's)")
    load.add_argument("--repository", default=None,
                      help="repository for OCI layouts whose index has only bare tags (default: file name)")
    return p


def target_of(ref: str) -> tuple[str, str]:
    """(repository, tag-or-digest) in the cluster registry for an archive's image name."""
    reference = parse_reference(ref, DOCKER_HUB)
    return reference.repository, reference.tag or reference.reference


async def _load_one(archive: ImageArchive, address: str) -> list[str]:
    lines = []
    for image in archive.images:
        if not image.refs:
            lines.append(f"skipped an unnamed image ({image.manifest_digest}): give the archive image a name")
            continue
        blobs: dict[str, Path | bytes] = {d.digest: archive.blob_path(d.digest)
                                          for d in (image.manifest.config, *image.manifest.layers)}
        for ref in image.refs:
            try:
                repository, tag = target_of(ref)
            except InvalidReference as exc:
                raise LoadError(f"{archive.source}: {exc}") from None
            digest = await push_image(address, repository, tag, blobs, image.manifest_bytes, image.media_type)
            short = repository.removeprefix("library/")
            use = f"{short}:{tag}" if not tag.startswith("sha256:") else f"{short}@{tag}"
            lines.append(f"Loaded image {ref} as {address}/{repository}:{tag} ({digest}); "
                         f"in pods: image: {use}")
    return lines


async def load(files: list[Path], address: str, name: str | None) -> list[str]:
    if not await registry_answers(address):
        raise LoadError(f"no registry answers at {address} (is the cluster up? `kubelite up` starts it)")
    out: list[str] = []
    for path in files:
        try:
            archive = await asyncio.to_thread(open_archive, path, name)
        except ArchiveError as exc:
            raise LoadError(str(exc)) from None
        try:
            out += await _load_one(archive, address)
        except (RegistryError, ArchiveError) as exc:
            raise LoadError(f"{path}: {exc}") from None
        finally:
            archive.close()
    return out


def target_data_dir(data_dir: Path | None, name: str | None) -> Path:
    """The cluster to load into: `--data-dir`, else the one kctl's context `--name` (or the current
    context) was written for by `kubelite up`, else the default data directory."""
    if data_dir is not None:
        return data_dir.resolve()
    path = config_path()
    try:
        recorded = kctlcontext.data_dir_of(kctlcontext.read(path), name)
    except kctlcontext.ContextError as exc:
        raise LoadError(str(exc)) from None
    if recorded is not None:
        return recorded
    if name:
        raise LoadError(f"no cluster named {name!r} in {path} (`kctl config get-contexts` lists them)")
    return default_data_dir().resolve()


async def run(argv: list[str]) -> int:
    """`kubelite image ...` inside a running event loop (what `main` and tests call)."""
    args = build_parser().parse_args(argv)
    address = args.registry
    if address is None:
        try:
            data_dir = target_data_dir(args.data_dir, args.name)
        except LoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        reg = load_registry(data_dir)
        if reg is None:
            print(f"error: no cluster registry recorded under {data_dir} (run `kubelite up`, or pass "
                  "--registry HOST:PORT)", file=sys.stderr)
            return 1
        address = reg.address
    try:
        for line in await load(args.files, address, args.repository):
            print(line)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
