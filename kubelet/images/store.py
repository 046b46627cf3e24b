"""The node's image store: pull (or import) images once, share their unpacked layers.

Layout under `root`:
  blobs/sha256/<hex>   manifests, configs, compressed layers (content-addressed, verified)
  layers/<hex>/        one unpacked layer per diff_id: an overlay lowerdir shared by every
                       image and container that contains it
  images/<hex>.json    one record per image (id = config digest): layers, runtime config
  refs.json            normalised reference -> image id ("tags"), moved by re-pulls

Why single-flight: when a Deployment lands many pods on a node at once, every
pod worker asks for the same image; one download and one unpack serve them all
(per image, per blob and per layer, so images sharing a base layer share it too).
A shared pull keeps running when one waiter is cancelled, since others still wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from kubelet.images.archive import open_archive
from kubelet.images.auth import RegistryAuth
from kubelet.images.blobs import BlobStore, DigestMismatch, digest_of
from kubelet.images.distribution import RegistryClient, RegistryOptions
from kubelet.images.errors import ArchiveError, ImagePullError, LayerError, RegistryError
from kubelet.images.manifest import (
    INDEX_TYPES,
    Descriptor,
    ImageConfig,
    Manifest,
    ManifestError,
    choose_platform,
    parse_config,
    parse_index,
    parse_manifest,
)
from kubelet.images.reference import DOCKER_HUB, InvalidReference, Reference, parse_reference
from kubelet.images.unpack import unpack_layer

log = logging.getLogger(__name__)

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
EventCallback = Callable[[str, str], None]
Fetch = Callable[[Descriptor, Callable[[bytes], None]], Awaitable[int]]


@dataclass(frozen=True)
class Image:
    """An image ready to run: its unpacked layers (lowest first) and runtime config."""

    id: str  # config digest, Kubernetes' image ID
    ref: str  # the normalised reference it was asked for
    layer_dirs: list[Path]
    config: ImageConfig
    repo_digest: str = ""  # "<registry>/<repo>@sha256:..." (pod status imageID) when pulled
    size: int = 0  # bytes of config + compressed layers, as Kubernetes reports image size


@dataclass
class _Record:
    id: str
    manifest_digest: str
    layers: list[dict[str, Any]]  # {"digest", "diff_id", "size"}
    config: ImageConfig
    size: int
    repo_digests: list[str] = field(default_factory=list)
    last_used: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps({"id": self.id, "manifest_digest": self.manifest_digest, "layers": self.layers,
                           "config": self.config.to_dict(), "size": self.size, "repo_digests": self.repo_digests,
                           "last_used": self.last_used}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> _Record:
        d = json.loads(data)
        return cls(d["id"], d["manifest_digest"], list(d["layers"]), ImageConfig.from_dict(d["config"]),
                   int(d["size"]), list(d.get("repo_digests", [])), float(d.get("last_used", 0)))


def default_pull_policy(reference: Reference) -> PullPolicy:
    """Kubernetes' default: Always for `:latest` or untagged, else IfNotPresent."""
    if reference.digest is None and reference.tag in (None, "latest"):
        return "Always"
    return "IfNotPresent"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.3f}s"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _PullFailure(Exception):
    """A pull failed for a reason already phrased for users."""


class ImageStore:
    """Node-local images. All methods run on one event loop; blocking disk work goes to threads."""

    def __init__(self, root: Path, *, default_registry: str = DOCKER_HUB, insecure_registries: Iterable[str] = (),
                 ca_file: Path | None = None, timeout: float = 30.0, max_parallel_downloads: int = 3) -> None:
        self.root = root
        self.default_registry = default_registry
        insecure = set(insecure_registries)
        if default_registry != DOCKER_HUB and ca_file is None:
            insecure.add(default_registry)  # the cluster-local registry `kubelite up` starts has no TLS
        self.options = RegistryOptions(insecure=insecure, ca_file=ca_file, timeout=timeout)
        root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(root)
        self._layers = root / "layers"
        self._images = root / "images"
        self._trash = root / "trash"
        for d in (self._layers, self._images, self._trash):
            d.mkdir(exist_ok=True)
        for leftover in list(self._trash.iterdir()) + [p for p in self._layers.iterdir() if p.name.startswith(".")]:
            shutil.rmtree(leftover, ignore_errors=True)  # half-unpacked or half-deleted by a killed kubelet
        self._records: dict[str, _Record] = {}
        for path in self._images.glob("*.json"):
            try:
                rec = _Record.from_json(path.read_bytes())
                self._records[rec.id] = rec
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable image record %s", path)
        try:
            self._refs: dict[str, str] = dict(json.loads((root / "refs.json").read_bytes()))
        except (OSError, ValueError):
            self._refs = {}
        self._pulls: dict[tuple[str, str], asyncio.Task[Image]] = {}
        self._blob_tasks: dict[str, asyncio.Task[None]] = {}
        self._layer_tasks: dict[str, asyncio.Task[Path]] = {}
        self._pins: Counter[str] = Counter()
        self._slots = asyncio.Semaphore(max_parallel_downloads)

    # ---- queries --------------------------------------------------------

    def parse(self, ref: str) -> Reference:
        return parse_reference(ref, self.default_registry)

    def _layer_dir(self, diff_id: str) -> Path:
        return self._layers / diff_id.split(":", 1)[1]

    def _complete(self, rec: _Record) -> bool:
        return all(self._layer_dir(layer["diff_id"]).is_dir() for layer in rec.layers)

    def _image(self, rec: _Record, ref: str) -> Image:
        return Image(rec.id, ref, [self._layer_dir(layer["diff_id"]) for layer in rec.layers], rec.config,
                     rec.repo_digests[0] if rec.repo_digests else "", rec.size)

    def _lookup(self, reference: Reference) -> _Record | None:
        rec = self._records.get(self._refs.get(str(reference), ""))
        if rec is None and reference.digest:
            wanted = f"{reference.name}@{reference.digest}"
            rec = next((r for r in self._records.values() if wanted in r.repo_digests), None)
        return rec if rec is not None and self._complete(rec) else None

    def get(self, ref: str) -> Image | None:
        """The image `ref` names if it is on this node (no network)."""
        try:
            reference = self.parse(ref)
        except InvalidReference:
            return None
        rec = self._lookup(reference)
        return self._image(rec, str(reference)) if rec else None

    def layer_blobs(self, image_id: str) -> list[tuple[str, str]]:
        """(compressed digest, diff_id) of each layer of a stored image, lowest first.

        Why: an image builder re-pushes a base image's layers under a new manifest,
        and needs their blobs, not just the unpacked directories.
        """
        rec = self._records.get(image_id)
        return [(str(layer["digest"]), str(layer["diff_id"])) for layer in rec.layers] if rec else []

    def list_images(self) -> list[tuple[list[str], Image]]:
        """Every stored image with the references that point at it."""
        out = []
        for rec in sorted(self._records.values(), key=lambda r: r.id):
            refs = sorted(r for r, i in self._refs.items() if i == rec.id)
            out.append((refs, self._image(rec, refs[0] if refs else rec.id)))
        return out

    # ---- ensure / pull --------------------------------------------------

    async def ensure(self, ref: str, policy: PullPolicy | str = "IfNotPresent", auth: RegistryAuth | None = None,
                     on_event: EventCallback | None = None) -> Image:
        """Make `ref` available per the pull policy, reporting kubelet-style events.

        Events: ("Pulling", 'Pulling image "X"'), ("Pulled", 'Successfully pulled
        image "X" in 1.2s ...') or ("Pulled", 'Container image "X" already present
        on machine'). Failures raise ImagePullError (reason ErrImagePull,
        ErrImageNeverPull or InvalidImageName); the caller reports them. For
        ErrImagePull the message is the cause alone (it becomes the container's
        waiting message; the kubelet's `Failed` Event prefixes 'Failed to pull
        image "X": '), the other reasons carry kubelet's full sentence.
        """
        def emit(reason: str, message: str) -> None:
            if on_event is not None:
                on_event(reason, message)

        try:
            reference = self.parse(ref)
        except InvalidReference as exc:
            raise ImagePullError("InvalidImageName", f'Failed to apply default image tag "{ref}": {exc}') from None
        policy = policy or default_pull_policy(reference)
        present = self._lookup(reference)
        if policy == "Never" or (policy == "IfNotPresent" and present):
            if present is None:
                raise ImagePullError("ErrImageNeverPull",
                                     f'Container image "{ref}" is not present with pull policy of Never')
            emit("Pulled", f'Container image "{ref}" already present on machine')
            return self._touch(present, str(reference))
        if policy not in ("Always", "IfNotPresent"):
            raise ImagePullError("ErrImagePull", f"unknown pull policy {policy!r}")
        emit("Pulling", f'Pulling image "{ref}"')
        started = time.monotonic()
        key = (str(reference), f"{auth.username}:{digest_of(auth.password.encode())}" if auth else "")
        task = self._pulls.get(key)
        if task is None:
            task = asyncio.create_task(self._pull(reference, auth), name=f"pull {reference}")
            self._pulls[key] = task
            task.add_done_callback(lambda t: self._pull_done(key, t))
        try:
            image = await asyncio.shield(task)
        except (_PullFailure, RegistryError, ManifestError, LayerError, DigestMismatch, OSError) as exc:
            raise ImagePullError("ErrImagePull", str(exc)) from None
        took = _duration(time.monotonic() - started)
        emit("Pulled", f'Successfully pulled image "{ref}" in {took} ({took} including waiting). '
                       f"Image size: {image.size} bytes.")
        rec = self._records.get(image.id)
        return self._touch(rec, str(reference)) if rec else image

    def _pull_done(self, key: tuple[str, str], task: asyncio.Task[Image]) -> None:
        if self._pulls.get(key) is task:
            del self._pulls[key]
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be left waiting

    def _touch(self, rec: _Record, ref: str) -> Image:
        rec.last_used = time.time()
        return self._image(rec, ref)

    async def _pull(self, reference: Reference, auth: RegistryAuth | None) -> Image:
        client = RegistryClient(reference.api_host, auth, self.options)
        repo = reference.repository
        try:
            body, media_type, digest = await client.get_manifest(repo, reference.reference)
        except RegistryError as exc:
            if exc.not_found:
                raise _PullFailure(f'failed to resolve reference "{reference}": {reference}: not found') from None
            if exc.code == "UNAUTHORIZED":
                raise _PullFailure(f"pull access denied for {reference.name}, repository does not exist or "
                                   f"may require authorization: {exc.message}") from None
            raise
        repo_digest = f"{reference.name}@{digest}"
        if media_type in INDEX_TYPES:
            child = choose_platform(parse_index(body))
            body, media_type, _ = await client.get_manifest(repo, child.digest)
        manifest = parse_manifest(body, media_type)
        self.blobs.put(body)

        async def fetch(desc: Descriptor, sink: Callable[[bytes], None]) -> int:
            return await client.fetch_blob(repo, desc.digest, sink)

        return await self._materialize(manifest, digest_of(body), [str(reference)], [repo_digest], fetch)

    async def _materialize(self, manifest: Manifest, manifest_digest: str, refs: list[str],
                           repo_digests: list[str], fetch: Fetch) -> Image:
        """Config + layers present and unpacked, then record the image under `refs`."""
        pins = [manifest.config.digest] + [d.digest for d in manifest.layers]
        self._pins.update(pins)
        try:
            await self._ensure_blob(manifest.config, fetch)
            config, diff_ids = parse_config(self.blobs.read(manifest.config.digest))
            if len(diff_ids) != len(manifest.layers):
                raise ManifestError(f"image config lists {len(diff_ids)} layers but the manifest has "
                                    f"{len(manifest.layers)}")
            self._pins.update(diff_ids)
            pins += diff_ids
            await asyncio.gather(*(self._ensure_layer(d, diff_id, fetch)
                                   for d, diff_id in zip(manifest.layers, diff_ids, strict=True)))
            image_id = manifest.config.digest
            old = self._records.get(image_id)
            rec = _Record(
                id=image_id, manifest_digest=manifest_digest,
                layers=[{"digest": d.digest, "diff_id": diff_id, "size": self.blobs.size(d.digest)}
                        for d, diff_id in zip(manifest.layers, diff_ids, strict=True)],
                config=config,
                size=self.blobs.size(image_id) + sum(self.blobs.size(d.digest) for d in manifest.layers),
                repo_digests=sorted(set(repo_digests) | set(old.repo_digests if old else [])),
                last_used=time.time(),
            )
            self._records[image_id] = rec
            # A pull that found what is already recorded (every start of a `:latest` image:
            # pull policy Always) writes nothing: only last_used would differ, which a start
            # with IfNotPresent does not persist either. Both files were rewritten per pod start.
            if old is None or replace(old, last_used=rec.last_used) != rec:
                _write_atomic(self._images / f"{image_id.split(':', 1)[1]}.json", rec.to_json())
            if any(self._refs.get(ref) != image_id for ref in refs):
                for ref in refs:
                    self._refs[ref] = image_id
                _write_atomic(self.root / "refs.json", json.dumps(self._refs, indent=1, sort_keys=True).encode())
            return self._image(rec, refs[0] if refs else image_id)
        finally:
            self._pins.subtract(pins)
            self._pins += Counter()  # drop zero counts

    async def _ensure_blob(self, desc: Descriptor, fetch: Fetch) -> None:
        if self.blobs.has(desc.digest):
            return
        task = self._blob_tasks.get(desc.digest)
        if task is None:
            task = asyncio.create_task(self._download(desc, fetch))
            self._blob_tasks[desc.digest] = task
            task.add_done_callback(lambda t: self._blob_tasks.pop(desc.digest, None))
        await asyncio.shield(task)

    async def _download(self, desc: Descriptor, fetch: Fetch) -> None:
        async with self._slots:
            writer = self.blobs.writer(desc.digest, desc.size if desc.size >= 0 else None)
            try:
                await fetch(desc, writer.write)
                writer.commit()
            except BaseException:
                writer.abort()
                raise

    async def _ensure_layer(self, desc: Descriptor, diff_id: str, fetch: Fetch) -> Path:
        dest = self._layer_dir(diff_id)
        if dest.is_dir():
            return dest
        task = self._layer_tasks.get(diff_id)
        if task is None:
            task = asyncio.create_task(self._unpack(desc, diff_id, dest, fetch))
            self._layer_tasks[diff_id] = task
            task.add_done_callback(lambda t: self._layer_tasks.pop(diff_id, None))
        return await asyncio.shield(task)

    async def _unpack(self, desc: Descriptor, diff_id: str, dest: Path, fetch: Fetch) -> Path:
        await self._ensure_blob(desc, fetch)
        tmp = self._layers / f".{dest.name}.{uuid.uuid4().hex}"
        try:
            skipped = await asyncio.to_thread(unpack_layer, self.blobs.path(desc.digest), tmp, diff_id)
            os.rename(tmp, dest)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            raise
        if skipped:
            log.warning("layer %s: %d whiteouts not representable without root", diff_id, skipped)
        return dest

    # ---- archives -------------------------------------------------------

    async def load_archive(self, path: Path, name: str | None = None) -> list[str]:
        """Import every image of an OCI layout (dir or tar) or docker-save tar; returns their refs.

        Raises ArchiveError (bad file, missing or corrupt blobs, bad names).
        """
        archive = await asyncio.to_thread(open_archive, path, name)
        loaded: list[str] = []
        try:
            for img in archive.images:
                try:
                    refs = [str(self.parse(r)) for r in img.refs]
                except InvalidReference as exc:
                    raise ArchiveError(f"{path}: {exc}") from None
                for desc in (img.manifest.config, *img.manifest.layers):
                    try:
                        await asyncio.to_thread(self.blobs.put_file, archive.blob_path(desc.digest), desc.digest)
                    except DigestMismatch as exc:
                        raise ArchiveError(f"{path}: {exc} (corrupt archive)") from None
                self.blobs.put(img.manifest_bytes)

                async def missing(desc: Descriptor, sink: Callable[[bytes], None]) -> int:
                    raise ArchiveError(f"{path}: blob {desc.digest} is missing")

                try:
                    image = await self._materialize(img.manifest, img.manifest_digest, refs, [], missing)
                except (ManifestError, LayerError) as exc:
                    raise ArchiveError(f"{path}: {exc}") from None
                loaded += refs or [image.id]
        finally:
            archive.close()
        return loaded

    # ---- garbage collection ---------------------------------------------

    async def remove_unused(self, in_use: Iterable[str], bytes_to_free: int | None = None) -> list[str]:
        """Remove images no container uses, least recently used first; returns the removed ids.

        `in_use` holds references (as in pod specs) or image ids. With
        `bytes_to_free`, stops once that much image size has been removed.
        Layers and blobs still used by a remaining image, or by a pull in
        flight, are kept.
        """
        keep: set[str] = set()
        for item in in_use:
            if item in self._records:
                keep.add(item)
                continue
            try:
                rec = self._lookup(self.parse(item))
            except InvalidReference:
                continue
            if rec:
                keep.add(rec.id)
        candidates = sorted((r for r in self._records.values() if r.id not in keep and r.id not in self._pins),
                            key=lambda r: r.last_used)
        removed: list[str] = []
        freed = 0
        for rec in candidates:
            if bytes_to_free is not None and freed >= bytes_to_free:
                break
            removed.append(rec.id)
            freed += rec.size
            del self._records[rec.id]
            (self._images / f"{rec.id.split(':', 1)[1]}.json").unlink(missing_ok=True)
        if removed:
            self._refs = {r: i for r, i in self._refs.items() if i in self._records}
            _write_atomic(self.root / "refs.json", json.dumps(self._refs, indent=1, sort_keys=True).encode())
            await self._sweep()
        return removed

    async def remove(self, ref_or_id: str) -> bool:
        """Remove one image (by reference or id) regardless of use; the caller checks use."""
        image_id = ref_or_id if ref_or_id in self._records else None
        if image_id is None:
            try:
                rec = self._lookup(self.parse(ref_or_id))
            except InvalidReference:
                return False
            image_id = rec.id if rec else None
        if image_id is None:
            return False
        others = [i for i in self._records if i != image_id]
        await self.remove_unused(others)
        return image_id not in self._records

    async def _sweep(self) -> None:
        """Delete layers and blobs no image record refers to (moved to trash first: atomic)."""
        live: set[str] = set(self._pins)
        for rec in self._records.values():
            live.add(rec.id)
            live.add(rec.manifest_digest)
            for layer in rec.layers:
                live.update((layer["digest"], layer["diff_id"]))
        doomed: list[Path] = []
        for layer_dir in self._layers.iterdir():
            if not layer_dir.name.startswith(".") and f"sha256:{layer_dir.name}" not in live \
                    and f"sha256:{layer_dir.name}" not in self._layer_tasks:
                target = self._trash / uuid.uuid4().hex
                os.rename(layer_dir, target)
                doomed.append(target)
        for digest in self.blobs.list():
            if digest not in live and digest not in self._blob_tasks:
                self.blobs.delete(digest)
        for target in doomed:
            await asyncio.to_thread(shutil.rmtree, target, True)
