"""Secrets encrypted at rest, seen from both sides: the API serves plain Secrets (get, list, watch)
while the real `etcdctl` reading the kvstore process finds only `k8s:enc:aesgcm:v1:` ciphertext.
Also: values written before encryption was enabled get encrypted at start-up, key rotation,
a ciphertext copied to another key is refused, and a bad config stops the daemon with a clear error."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from apiserver.encryption import load_config, new_config_text
from apiserver.server import ApiServer
from kubelite.api import ConfigMap, ObjectMeta, Secret
from kubelite.api.errors import InternalError
from kubelite.client import ApiClient
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from tests.integration.kvstore.kvproc import REPO, KVProcess

pytestmark = pytest.mark.integration

ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
if not os.path.exists(ETCDCTL):
    pytest.skip("etcdctl is not installed (apt-get install -y etcd-client)", allow_module_level=True)

PASSWORD = "hunter2-correct-horse"
K1, K2 = os.urandom(32), os.urandom(32)


def etcdctl_value(endpoint: str, key: str) -> bytes | None:
    """The raw stored value, as the real etcd client sees it."""
    res = subprocess.run([ETCDCTL, "--endpoints", endpoint, "--command-timeout", "10s", "-w", "json", "get", key],
                         capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)
    assert res.returncode == 0, res.stderr
    kvs = json.loads(res.stdout).get("kvs") or []
    return base64.b64decode(kvs[0]["value"]) if kvs else None


def write_config(path: Path, *keys: tuple[str, bytes], identity: bool = True) -> Path:
    """An EncryptionConfiguration for secrets: aesgcm with `keys` in order (first encrypts)."""
    lines = new_config_text("placeholder", b"\0" * 32).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "- name: placeholder" in line)
    key_lines = [f"            - name: {n}\n              secret: {base64.b64encode(s).decode()}\n" for n, s in keys]
    tail = [line for line in lines[start + 2:] if identity or "identity" not in line]
    path.write_text("".join(lines[:start] + key_lines + tail))
    return path


@pytest.fixture(scope="module")
def kvstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KVProcess]:
    tmp = tmp_path_factory.mktemp("encryption")
    kv = KVProcess(tmp / "data", tmp / "kvstore.log").start()
    try:
        yield kv
        assert kv.terminate() == 0
    finally:
        kv.cleanup()


@asynccontextmanager
async def apiserver(kv: KVProcess, config: Path | None) -> AsyncIterator[tuple[ApiServer, ApiClient]]:
    """An in-process apiserver on the kvstore process, its stale values already rewritten."""
    server = ApiServer([kv.endpoint], "127.0.0.1:0", encryption=load_config(config) if config else None)
    await server.start()
    client = ApiClient.connect(server.endpoint)
    try:
        await asyncio.wait_for(server.reencrypted.wait(), 20)
        yield server, client
    finally:
        await client.close()
        await server.stop()


def secret(name: str) -> Secret:
    return Secret(metadata=ObjectMeta(name=name, namespace="default"),
                  data={"password": base64.b64encode(PASSWORD.encode()).decode()})


def assert_encrypted(raw: bytes | None, key_name: str) -> None:
    assert raw is not None
    assert raw.startswith(f"k8s:enc:aesgcm:v1:{key_name}:".encode()), raw[:40]
    for plain in (PASSWORD.encode(), base64.b64encode(PASSWORD.encode()), b'"kind"', b"Secret"):
        assert plain not in raw


async def test_secrets_are_encrypted_in_the_kvstore_and_plain_through_the_api(
    kvstore: KVProcess, tmp_path: Path
) -> None:
    ep = kvstore.endpoint
    # A Secret written before encryption was enabled is plain JSON in the store.
    async with apiserver(kvstore, None) as (_, client):
        await client.create(secret("before"))
    assert b'"kind":"Secret"' in (etcdctl_value(ep, "/registry/secrets/default/before") or b"")

    config = write_config(tmp_path / "enc.yaml", ("key1", K1))
    async with apiserver(kvstore, config) as (server, client):
        # Start-up rewrote the old plain value under key1.
        assert_encrypted(etcdctl_value(ep, "/registry/secrets/default/before"), "key1")

        listed = await client.list(Secret, namespace="default")
        watch = client.watch(Secret, namespace="default", resource_version=listed.resource_version)
        created = await client.create(secret("db"))
        event = await asyncio.wait_for(anext(watch), 10)
        assert (event.type, event.object.metadata.name) == ("ADDED", "db")
        assert base64.b64decode(event.object.data["password"]).decode() == PASSWORD, "watchers see plain data"
        await watch.aclose()

        raw = etcdctl_value(ep, "/registry/secrets/default/db")
        assert_encrypted(raw, "key1")
        assert raw is not None and len(raw) > len(b"k8s:enc:aesgcm:v1:key1:") + 12 + 16

        got = await client.get(Secret, "db", namespace="default")
        assert got.data == created.data
        assert base64.b64decode(got.data["password"]).decode() == PASSWORD
        names = {s.metadata.name for s in (await client.list(Secret, namespace="default")).items}
        assert {"before", "db"} <= names, "the watch cache holds decrypted objects"
        assert (await client.get(Secret, "before", namespace="default")).data == created.data

        await client.create(ConfigMap(metadata=ObjectMeta(name="settings", namespace="default"),
                                      data={"mode": "plain-text-is-fine"}))
        cm = etcdctl_value(ep, "/registry/configmaps/default/settings") or b""
        assert cm.startswith(b"{") and b"plain-text-is-fine" in cm, "only the configured resources are encrypted"

        # Copying a ciphertext under another key (another namespace) fails: the key is authenticated data.
        async with grpc.aio.insecure_channel(ep) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            await kv.Put(rpc_pb2.PutRequest(key=b"/registry/secrets/kube-system/db", value=raw))
            with pytest.raises(InternalError, match="authentication failed"):
                await client.get(Secret, "db", namespace="kube-system")
            await kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"/registry/secrets/kube-system/db"))

    # Rotation: key2 first, key1 still listed -> every Secret is rewritten under key2 at start-up.
    rotated = write_config(tmp_path / "enc.yaml", ("key2", K2), ("key1", K1))
    async with apiserver(kvstore, rotated) as (server, client):
        for name in ("before", "db"):
            assert_encrypted(etcdctl_value(ep, f"/registry/secrets/default/{name}"), "key2")
    only_new = write_config(tmp_path / "enc.yaml", ("key2", K2), identity=False)
    async with apiserver(kvstore, only_new) as (server, client):
        got = await client.get(Secret, "db", namespace="default")
        assert base64.b64decode(got.data["password"]).decode() == PASSWORD, "old key removed, data still readable"


def test_a_bad_config_stops_the_daemon_with_the_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "enc.yaml"
    config.write_text(new_config_text().replace("aesgcm:", "secretbox:"))
    res = subprocess.run(
        [sys.executable, "-m", "kubelite.main", "apiserver", "--etcd-servers", "127.0.0.1:1",
         "--listen", "127.0.0.1:0", "--listen-health", "127.0.0.1:0", "--encryption-provider-config", str(config)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2
    assert f"{config}: resources[0].providers[0].secretbox: provider not supported" in res.stderr
    assert "Traceback" not in res.stderr
