"""Blob digests are verified before publication; manifests and indexes parse like registries serve them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelet.images.blobs import BlobStore, DigestMismatch, digest_of
from kubelet.images.builder import LayerEntry, build_busybox_image, build_image, build_layer
from kubelet.images.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Descriptor,
    ManifestError,
    choose_platform,
    media_type_of,
    parse_config,
    parse_index,
    parse_manifest,
)


def test_blob_store_verifies(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    d = store.put(b"hello")
    assert store.read(d) == b"hello" and d == digest_of(b"hello")
    with pytest.raises(DigestMismatch, match="mismatch"):
        store.put(b"evil", digest_of(b"good"))
    assert not store.has(digest_of(b"good"))
    w = store.writer(digest_of(b"abc"), 3)
    w.write(b"ab")
    with pytest.raises(DigestMismatch, match="expected 3"):
        w.commit()
    w = store.writer(digest_of(b"abc"), 2)
    with pytest.raises(DigestMismatch, match="more data"):
        w.write(b"abc")
    w.abort()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.list() == [d]


def desc(os_: str, arch: str, mt: str = DOCKER_MANIFEST) -> dict[str, object]:
    return {"mediaType": mt, "digest": "sha256:" + (arch[0] * 64), "size": 1,
            "platform": {"os": os_, "architecture": arch}}


def test_index_picks_linux_amd64() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST,
                       "manifests": [desc("linux", "arm64"), desc("windows", "amd64"), desc("linux", "amd64")]}).encode()
    assert media_type_of(body) == DOCKER_LIST
    chosen = choose_platform(parse_index(body), ("linux", "amd64"))
    assert chosen.platform == ("linux", "amd64")
    with pytest.raises(ManifestError, match="no matching manifest for linux/s390x"):
        choose_platform(parse_index(body), ("linux", "s390x"))


def test_single_untagged_child_is_chosen() -> None:
    child = Descriptor(DOCKER_MANIFEST, "sha256:" + "b" * 64, 3)
    assert choose_platform([child], ("linux", "amd64")) == child


def test_media_type_guess_and_schema1() -> None:
    assert media_type_of(b'{"manifests": []}') == OCI_INDEX
    assert media_type_of(b'{"config": {}, "layers": []}', "application/json") != "application/json"
    with pytest.raises(ManifestError, match="schema 1"):
        parse_manifest(b'{"schemaVersion": 1}', media_type_of(b'{"schemaVersion": 1}'))
    with pytest.raises(ManifestError, match="not valid JSON"):
        media_type_of(b"<html>")


def test_built_image_round_trips() -> None:
    layer = build_layer([LayerEntry("a", "file", b"1")])
    img = build_image([layer], cmd=["sh", "-c", "x"], entrypoint=["/init"], env=["A=1"], working_dir="/w",
                      user="65534")
    m = parse_manifest(img.manifest, media_type_of(img.manifest))
    assert m.config.digest == img.config_digest and [x.digest for x in m.layers] == [layer.digest]
    cfg, diff_ids = parse_config(img.config)
    assert diff_ids == [layer.diff_id]
    assert (cfg.entrypoint, cfg.cmd, cfg.env, cfg.working_dir, cfg.user) == (["/init"], ["sh", "-c", "x"],
                                                                             ["A=1"], "/w", "65534")


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="busybox-static is not installed")
def test_busybox_image_is_reproducible() -> None:
    a, b = build_busybox_image(), build_busybox_image()
    assert a.manifest_digest == b.manifest_digest
    cfg, _ = parse_config(a.config)
    assert cfg.cmd == ["sh"]
