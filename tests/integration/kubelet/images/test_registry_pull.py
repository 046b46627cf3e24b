"""Pulls from a real docker-registry: anonymous, htpasswd basic auth, HTTPS with a custom CA, failures."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kubelet.images import ImagePullError, ImageStore, RegistryAuth, auth_from_dockerconfigjson
from kubelet.images.distribution import RegistryOptions
from kubelite.registry import ensure_registry, push_built, registry_answers, seed_busybox, stop_registry
from tests.integration.kubelet.images.conftest import StartRegistry, free_port
from tests.unit.kubelet.images.archives import small_image

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="busybox-static is not installed")


@needs_busybox
async def test_seeded_busybox_pulls_and_runs(tmp_path: Path, registry_factory: StartRegistry) -> None:
    reg = await registry_factory()
    await seed_busybox(reg.address)
    store = ImageStore(tmp_path / "store", default_registry=reg.address)
    events: list[tuple[str, str]] = []
    image = await store.ensure("busybox", "Always", None, lambda r, m: events.append((r, m)))
    assert [r for r, _ in events] == ["Pulling", "Pulled"]
    root = image.layer_dirs[0]
    assert os.readlink(root / "bin/sh") == "/bin/busybox" and (root / "etc/passwd").is_file()
    for applet in ("httpd", "wget", "sleep", "cat", "echo", "nc"):
        assert any((root / d / applet).is_symlink() for d in ("bin", "sbin", "usr/bin", "usr/sbin")), applet
    assert image.config.cmd == ["sh"]
    if os.geteuid() == 0:
        out = subprocess.run(["chroot", str(root), "/bin/sh", "-c", "echo hi from $(cat /etc/passwd | head -1)"],
                             capture_output=True, timeout=10, check=True).stdout
        assert out.startswith(b"hi from root:x:0:0")


async def test_missing_image_then_registry_down(tmp_path: Path, registry_factory: StartRegistry) -> None:
    reg = await registry_factory()
    store = ImageStore(tmp_path / "store", default_registry=reg.address)
    with pytest.raises(ImagePullError) as missing:
        await store.ensure("does-not-exist:1", "IfNotPresent", None, None)
    assert missing.value.reason == "ErrImagePull"
    assert missing.value.message.endswith(f"{reg.address}/library/does-not-exist:1: not found")
    await stop_registry(reg, grace=5)
    with pytest.raises(ImagePullError) as down:
        await store.ensure("does-not-exist:1", "IfNotPresent", None, None)
    assert down.value.message == f"cannot reach registry {reg.address}: Connection refused"


@pytest.mark.skipif(shutil.which("htpasswd") is None, reason="htpasswd (apache2-utils) is not installed")
async def test_basic_auth_from_pull_secret(tmp_path: Path, registry_factory: StartRegistry) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True,
                                        check=True, timeout=30).stdout)
    reg = await registry_factory(htpasswd=htpasswd)
    image = small_image(b"private")
    creds = RegistryAuth("alice", "s3cret")
    await push_built(reg.address, image, "team/private", "1", creds)
    store = ImageStore(tmp_path / "store", default_registry=reg.address)
    with pytest.raises(ImagePullError) as anon:
        await store.ensure("team/private:1", "IfNotPresent", None, None)
    assert "pull access denied for" in anon.value.message
    with pytest.raises(ImagePullError):
        await store.ensure("team/private:1", "IfNotPresent", RegistryAuth("alice", "wrong"), None)
    secret = json.dumps({"auths": {reg.address: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}).encode()
    auth = auth_from_dockerconfigjson(secret, reg.address)
    got = await store.ensure("team/private:1", "IfNotPresent", auth, None)
    assert (got.layer_dirs[0] / "data/file").read_bytes() == b"private"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_https_with_custom_ca(tmp_path: Path, registry_factory: StartRegistry) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   capture_output=True, check=True, timeout=60)
    reg = await registry_factory(tls_cert=cert, tls_key=key)
    await push_built(reg.address, small_image(b"tls"), "library/tls", "1",
                     options=RegistryOptions(insecure={reg.address}))
    ref = f"{reg.address}/library/tls:1"
    with pytest.raises(ImagePullError, match="certificate verify failed"):
        await ImageStore(tmp_path / "s1").ensure(ref, "IfNotPresent", None, None)
    store = ImageStore(tmp_path / "s2", ca_file=cert)
    assert (await store.ensure(ref, "IfNotPresent", None, None)).layer_dirs[0].joinpath("data/file").read_bytes() == b"tls"
    insecure = ImageStore(tmp_path / "s3", insecure_registries=[reg.address])
    assert (await insecure.ensure(ref, "IfNotPresent", None, None)).id == store.get(ref).id  # type: ignore[union-attr]
    assert insecure.options.schemes.get(reg.address, "https") == "https"  # TLS kept, only verification skipped


@needs_busybox
async def test_ensure_registry_starts_seeds_and_reuses(tmp_path: Path) -> None:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    listen = f"127.0.0.1:{free_port()}"
    reg = await ensure_registry(tmp_path / "cluster", listen)
    try:
        assert not reg.reused and reg.pid is not None
        assert (tmp_path / "cluster/registry/config.yml").is_file()
        again = await ensure_registry(tmp_path / "other", listen)
        assert again.reused and again.pid is None and again.address == listen
        store = ImageStore(tmp_path / "store", default_registry=listen)
        assert (await store.ensure("busybox:latest", "IfNotPresent", None, None)).config.cmd == ["sh"]
    finally:
        await stop_registry(reg, grace=5)
    assert not await registry_answers(listen)
