"""ImageStore.ensure against an in-process registry: policies, auth, sharing, failures, GC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelet.images import ImagePullError, ImageStore, RegistryAuth, default_pull_policy, parse_reference
from kubelet.images.builder import LayerEntry, build_image, build_layer
from kubelet.images.manifest import DOCKER_LIST, host_platform
from tests.unit.kubelet.images.archives import small_image
from tests.unit.kubelet.images.fakeregistry import FakeRegistry


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    reg = await FakeRegistry().start()
    try:
        yield reg
    finally:
        await reg.stop()


def new_store(tmp_path: Path, reg: FakeRegistry) -> ImageStore:
    return ImageStore(tmp_path / "store", default_registry=reg.address)


async def wait_until(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_pull_policies_and_events(tmp_path: Path, registry: FakeRegistry) -> None:
    image = small_image(b"v1")
    registry.add_image("library/app", "1", image)
    store = new_store(tmp_path, registry)
    events: list[tuple[str, str]] = []
    with pytest.raises(ImagePullError) as never:
        await store.ensure("app:1", "Never", None, lambda r, m: events.append((r, m)))
    assert never.value.reason == "ErrImageNeverPull"
    assert never.value.message == 'Container image "app:1" is not present with pull policy of Never'

    got = await store.ensure("app:1", "IfNotPresent", None, lambda r, m: events.append((r, m)))
    assert got.id == image.config_digest and got.ref == f"{registry.address}/library/app:1"
    assert got.repo_digest == f"{registry.address}/library/app@{image.manifest_digest}"
    assert (got.layer_dirs[0] / "data/file").read_bytes() == b"v1"
    assert [r for r, _ in events] == ["Pulling", "Pulled"]
    assert events[0][1] == 'Pulling image "app:1"'
    assert events[1][1].startswith('Successfully pulled image "app:1" in ') and f"{got.size} bytes" in events[1][1]

    before = sum(registry.requests.values())
    events.clear()
    assert (await store.ensure("app:1", "IfNotPresent", None, lambda r, m: events.append((r, m)))).id == got.id
    assert (await store.ensure("app:1", "Never", None, None)).id == got.id
    assert sum(registry.requests.values()) == before  # no network for present images
    assert events == [("Pulled", 'Container image "app:1" already present on machine')]

    # Always re-resolves the tag: a moved tag gives the new image, layers already present are reused.
    registry.add_image("library/app", "1", small_image(b"v2"))
    moved = await store.ensure("app:1", "Always", None, None)
    assert moved.id != got.id and (moved.layer_dirs[0] / "data/file").read_bytes() == b"v2"

    # A fresh store on the same root sees what was pulled (records survive a kubelet restart).
    again = ImageStore(tmp_path / "store", default_registry=registry.address).get("app:1")
    assert again is not None and again.id == moved.id


async def test_an_always_pull_of_an_unchanged_tag_rewrites_no_record(tmp_path: Path, registry: FakeRegistry) -> None:
    registry.add_image("library/app", "latest", small_image(b"v1"))
    store = new_store(tmp_path, registry)
    first = await store.ensure("app", "Always", None, None)
    files = sorted((tmp_path / "store").glob("**/*.json"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert [f.name for f in files if f.name == "refs.json"] == ["refs.json"]
    time.sleep(0.01)  # a rewrite would show as a newer mtime

    again = await store.ensure("app", "Always", None, None)  # every start of a `:latest` image does this
    assert again.id == first.id
    assert {f: f.stat().st_mtime_ns for f in files} == stamps

    # Another tag of the same image is recorded, and survives a kubelet restart.
    registry.add_image("library/app", "v1", small_image(b"v1"))
    assert (await store.ensure("app:v1", "Always", None, None)).id == first.id
    restarted = ImageStore(tmp_path / "store", default_registry=registry.address)
    assert restarted.get("app:v1") is not None and restarted.get("app") is not None


async def test_pull_by_digest_and_manifest_list(tmp_path: Path, registry: FakeRegistry) -> None:
    image = small_image(b"multi")
    registry.add_image("library/multi", "amd-only", image)
    os_name, arch = host_platform()
    other = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "f" * 64,
             "size": 10, "platform": {"os": os_name, "architecture": "other"}}
    mine = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
            "size": len(image.manifest), "platform": {"os": os_name, "architecture": arch}}
    index = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [other, mine]}).encode()
    registry.add_manifest("library/multi", "latest", index, DOCKER_LIST)
    store = new_store(tmp_path, registry)
    got = await store.ensure("multi", "Always", None, None)
    assert got.id == image.config_digest
    from kubelet.images.blobs import digest_of

    assert got.repo_digest.endswith(digest_of(index))  # Kubernetes shows the index digest
    by_digest = await store.ensure(f"multi@{image.manifest_digest}", "IfNotPresent", None, None)
    assert by_digest.id == got.id


async def test_missing_image_and_down_registry(tmp_path: Path, registry: FakeRegistry) -> None:
    store = new_store(tmp_path, registry)
    with pytest.raises(ImagePullError) as missing:
        await store.ensure("nope:1", "IfNotPresent", None, None)
    assert missing.value.reason == "ErrImagePull"
    assert missing.value.message == (f'failed to resolve reference "{registry.address}/library/nope:1": '
                                     f"{registry.address}/library/nope:1: not found")
    await registry.stop()
    with pytest.raises(ImagePullError) as down:
        await store.ensure("nope:1", "Always", None, None)
    assert down.value.message == f"cannot reach registry {registry.address}: Connection refused"
    with pytest.raises(ImagePullError) as bad:
        await store.ensure("Bad Name", "Always", None, None)
    assert bad.value.reason == "InvalidImageName"


@pytest.mark.parametrize("mode", ["basic", "bearer"])
async def test_auth_challenges(tmp_path: Path, mode: str) -> None:
    reg = await FakeRegistry(auth=mode, redirect_blobs=True).start()
    try:
        reg.add_image("team/private", "1", small_image(b"secret"))
        store = new_store(tmp_path, reg)
        with pytest.raises(ImagePullError) as anon:
            await store.ensure("team/private:1", "IfNotPresent", None, None)
        assert "pull access denied for" in anon.value.message
        with pytest.raises(ImagePullError):
            await store.ensure("team/private:1", "IfNotPresent", RegistryAuth("alice", "wrong"), None)
        got = await store.ensure("team/private:1", "IfNotPresent", RegistryAuth("alice", "s3cret"), None)
        assert (got.layer_dirs[0] / "data/file").read_bytes() == b"secret"
        if mode == "bearer":
            assert reg.token_requests and reg.token_requests[-1] == "x"
        assert reg.requests["GET /storage/" + small_image(b"secret").layers[0].digest] == 1  # redirect followed
    finally:
        await reg.stop()


async def test_corrupt_blob_is_rejected(tmp_path: Path, registry: FakeRegistry) -> None:
    image = small_image(b"c")
    registry.add_image("library/c", "1", image)
    registry.corrupt.add(image.layers[0].digest)
    store = new_store(tmp_path, registry)
    with pytest.raises(ImagePullError, match="digest mismatch"):
        await store.ensure("c:1", "IfNotPresent", None, None)
    assert not store.blobs.has(image.layers[0].digest)
    registry.corrupt.clear()
    assert (await store.ensure("c:1", "IfNotPresent", None, None)).id == image.config_digest


async def test_concurrent_pulls_share_downloads(tmp_path: Path, registry: FakeRegistry) -> None:
    base = build_layer([LayerEntry("base", "file", b"shared" * 1000)])
    a = build_image([base, build_layer([LayerEntry("a", "file", b"a")])])
    b = build_image([base, build_layer([LayerEntry("b", "file", b"b")])])
    registry.add_image("library/a", "1", a)
    registry.add_image("library/b", "1", b)
    registry.gate, registry.gated = asyncio.Event(), {base.digest}
    store = new_store(tmp_path, registry)
    tasks = [asyncio.create_task(store.ensure(ref, "IfNotPresent", None, None)) for ref in ["a:1"] * 3 + ["b:1"] * 2]
    base_path = f"GET /v2/library/a/blobs/{base.digest}"
    # Both images' configs are in, and the shared layer is requested, before the layer may flow.
    await wait_until(lambda: registry.requests[f"GET /v2/library/b/blobs/{b.config_digest}"] == 1
                     and registry.requests[base_path] + registry.requests[base_path.replace("/a/", "/b/")] >= 1)
    tasks[0].cancel()  # one waiter giving up does not cancel the shared pull
    registry.gate.set()
    results = await asyncio.gather(*tasks[1:])
    assert {r.id for r in results} == {a.config_digest, b.config_digest}
    assert registry.requests["GET /v2/library/a/manifests/1"] == 1
    assert registry.requests[base_path] + registry.requests[base_path.replace("/a/", "/b/")] == 1
    assert results[0].layer_dirs[0] == results[-1].layer_dirs[0]  # one unpacked copy of the shared layer


async def test_remove_unused_keeps_shared_layers(tmp_path: Path, registry: FakeRegistry) -> None:
    base = build_layer([LayerEntry("base", "file", b"shared")])
    a = build_image([base, build_layer([LayerEntry("a", "file", b"a")])])
    b = build_image([base])
    registry.add_image("library/a", "1", a)
    registry.add_image("library/b", "1", b)
    store = new_store(tmp_path, registry)
    ia = await store.ensure("a:1", "IfNotPresent", None, None)
    ib = await store.ensure("b:1", "IfNotPresent", None, None)
    assert await store.remove_unused(["b:1"]) == [ia.id]
    assert store.get("a:1") is None and store.get("b:1") is not None
    assert ia.layer_dirs[0].is_dir() and not ia.layer_dirs[1].exists()
    assert not store.blobs.has(a.layers[1].digest) and store.blobs.has(base.digest)
    assert await store.remove("b:1")
    assert not ib.layer_dirs[0].exists() and store.blobs.list() == []
    assert await store.remove_unused([]) == []


def test_default_pull_policy() -> None:
    assert default_pull_policy(parse_reference("busybox")) == "Always"
    assert default_pull_policy(parse_reference("busybox:latest")) == "Always"
    assert default_pull_policy(parse_reference("busybox:1.36")) == "IfNotPresent"
    assert default_pull_policy(parse_reference("busybox@sha256:" + "a" * 64)) == "IfNotPresent"
