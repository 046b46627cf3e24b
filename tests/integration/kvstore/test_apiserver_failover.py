"""The apiserver's etcd client against a 3-member kvstore: killing the member it talks to
(even the leader) costs at most a short unavailability, never data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apiserver.etcd import EtcdClient
from kubelite.api.errors import ApiError
from tests.integration.kvstore.kvproc import KVCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path, 3)
    try:
        yield c.start()
    finally:
        c.cleanup()


async def retrying_create(client: EtcdClient, key: str, value: bytes, deadline: float) -> int:
    """Create through the client; unavailability is retried, as the apiserver's callers do."""
    while True:
        try:
            res = await client.create(key, value)
            if res.succeeded:
                return res.revision
            kv, _ = await client.get(key)  # a retried create may have been applied already
            assert kv is not None and kv.value == value
            return kv.mod_revision
        except ApiError:
            if time.monotonic() > deadline:
                raise
            await _sleep(0.05)


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


async def test_client_fails_over_when_its_member_dies(cluster: KVCluster) -> None:
    client = EtcdClient(cluster.endpoints, timeout=8.0)
    try:
        for i in range(20):
            await retrying_create(client, f"/registry/pods/default/p{i}", b"{}", time.monotonic() + 10)
        victim = next(n for n, m in cluster.members.items() if m.endpoint == client.endpoint)
        cluster.members[await cluster.leader()].kill()  # the leader first: an election is needed
        if cluster.members[victim].proc is not None and cluster.members[victim].proc.poll() is None:
            await retrying_create(client, "/registry/pods/default/between", b"{}", time.monotonic() + 10)
            cluster.members[victim].kill()  # then the member the client uses: 1 of 3 left, no quorum
            for name, m in cluster.members.items():
                if name != victim and (m.proc is None or m.proc.poll() is not None):
                    m.start()  # bring the old leader back so a quorum exists again
        t0 = time.monotonic()
        rev = await retrying_create(client, "/registry/pods/default/after", b"{}", t0 + 15)
        assert time.monotonic() - t0 < 15
        got = await client.range_prefix("/registry/pods/default/")
        assert got.revision >= rev and {kv.key.rsplit("/", 1)[1] for kv in got.kvs} >= {f"p{i}" for i in range(20)}
    finally:
        await client.close()
