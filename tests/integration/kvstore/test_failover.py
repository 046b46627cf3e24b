"""Three real kvstore processes under concurrent load; SIGKILL the leader, then a follower, restart
them, several rounds. Checks: no acknowledged write is lost, the client history (puts, gets,
compare-and-swaps, with failed calls as indeterminate) is linearizable, a new leader serves
within 3 s of the leader's death, and a member that was down while the log was compacted
catches up by installing the leader's snapshot.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from tests.checkers.linearizability import Op, check
from tests.integration.kvstore.kvproc import KVCluster

pytestmark = pytest.mark.integration

KEYS = [b"/lin/%d" % i for i in range(6)]
CLIENTS = 6
ROUNDS = 2


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path, 3, "--snapshot-count", "300", "--snapshot-catchup-entries", "50")
    try:
        yield c.start()
    finally:
        c.cleanup()


class Load:
    """Clients that each talk to one member at a time and move on when it fails."""

    def __init__(self, cluster: KVCluster) -> None:
        self.cluster = cluster
        self.history: list[Op] = []
        self.acked: dict[bytes, bytes] = {}  # unique keys written once, acknowledged
        self.stop = asyncio.Event()
        self.ok_puts = 0
        self.rng = random.Random(7)

    async def client(self, cid: int) -> None:
        seq = 0
        while not self.stop.is_set():
            endpoints = self.cluster.endpoints
            if not endpoints:
                await asyncio.sleep(0.05)
                continue
            async with grpc.aio.insecure_channel(self.rng.choice(endpoints)) as ch:
                kv = rpc_pb2_grpc.KVStub(ch)
                failures = 0
                while not self.stop.is_set() and failures < 2:
                    seq += 1
                    if not await self.one(kv, cid, seq):
                        failures += 1

    async def one(self, kv: rpc_pb2_grpc.KVStub, cid: int, seq: int) -> bool:
        key = self.rng.choice(KEYS)
        roll = self.rng.random()
        value = b"c%d-%d" % (cid, seq)
        t0 = time.monotonic_ns()
        try:
            if roll < 0.35:
                await kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=4)
                self.history.append(Op(cid, "put", key, value, invoke_ns=t0, complete_ns=time.monotonic_ns()))
                unique = b"/acked/%d/%d" % (cid, seq)
                await kv.Put(rpc_pb2.PutRequest(key=unique, value=value), timeout=4)
                self.acked[unique] = value
                self.ok_puts += 1
            elif roll < 0.75:
                got = await kv.Range(rpc_pb2.RangeRequest(key=key), timeout=4)
                out = got.kvs[0].value if got.kvs else None
                self.history.append(Op(cid, "get", key, output=out, invoke_ns=t0, complete_ns=time.monotonic_ns()))
            else:
                expected = self.last_seen(key)
                cmp = (rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.VALUE, value=expected)
                       if expected is not None else
                       rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.CREATE, create_revision=0))
                resp = await kv.Txn(rpc_pb2.TxnRequest(compare=[cmp], success=[rpc_pb2.RequestOp(
                    request_put=rpc_pb2.PutRequest(key=key, value=value))]), timeout=4)
                self.history.append(Op(cid, "cas", key, value, expected, resp.succeeded, t0, time.monotonic_ns()))
            return True
        except grpc.aio.AioRpcError:
            if roll < 0.35:
                self.history.append(Op(cid, "put", key, value, invoke_ns=t0))  # may or may not have happened
            elif roll >= 0.75:
                self.history.append(Op(cid, "cas", key, value, self.last_seen(key), None, t0))
            await asyncio.sleep(0.05)
            return False

    def last_seen(self, key: bytes) -> bytes | None:
        for op in reversed(self.history):
            if op.key == key and op.kind == "get":
                return op.output  # type: ignore[return-value]
        return None


class Watcher:
    """Follows every change under /lin/ across member failures, resuming at last revision + 1."""

    def __init__(self, cluster: KVCluster) -> None:
        self.cluster = cluster
        self.events: list[tuple[int, bytes, bytes]] = []  # (mod_revision, key, value)
        self.stop = asyncio.Event()
        self.reconnects = 0

    async def run(self) -> None:
        start = 1
        while not self.stop.is_set():
            endpoints = self.cluster.endpoints
            if not endpoints:
                await asyncio.sleep(0.05)
                continue
            try:
                async with grpc.aio.insecure_channel(random.choice(endpoints)) as ch:
                    call = rpc_pb2_grpc.WatchStub(ch).Watch()
                    await call.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
                        key=b"/lin/", range_end=b"/lin0", start_revision=start)))
                    while not self.stop.is_set():
                        resp = await asyncio.wait_for(call.read(), 1.0)
                        if not isinstance(resp, rpc_pb2.WatchResponse) or resp.canceled:
                            break
                        for ev in resp.events:
                            self.events.append((ev.kv.mod_revision, ev.kv.key, ev.kv.value))
                            start = ev.kv.mod_revision + 1
            except (grpc.aio.AioRpcError, TimeoutError):
                pass
            self.reconnects += 1


async def all_events(endpoint: str, upto: int) -> list[tuple[int, bytes, bytes]]:
    out: list[tuple[int, bytes, bytes]] = []
    async with grpc.aio.insecure_channel(endpoint) as ch:
        call = rpc_pb2_grpc.WatchStub(ch).Watch()
        await call.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=b"/lin/", range_end=b"/lin0", start_revision=1)))
        while not out or out[-1][0] < upto:
            resp = await asyncio.wait_for(call.read(), 10)
            assert isinstance(resp, rpc_pb2.WatchResponse)
            out.extend((ev.kv.mod_revision, ev.kv.key, ev.kv.value) for ev in resp.events)
        call.cancel()
    return out


async def first_put_after(cluster: KVCluster, deadline: float) -> float:
    """Seconds until a put through any live member succeeds."""
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        for ep in cluster.endpoints:
            async with grpc.aio.insecure_channel(ep) as ch:
                try:
                    await rpc_pb2_grpc.KVStub(ch).Put(rpc_pb2.PutRequest(key=b"/probe", value=b"x"), timeout=0.5)
                    return time.monotonic() - t0
                except grpc.aio.AioRpcError:
                    pass
    raise AssertionError("no member accepted a write")


async def wait_puts(load: Load, n: int, timeout: float = 30.0) -> None:
    target = load.ok_puts + n
    deadline = time.monotonic() + timeout
    while load.ok_puts < target:
        assert time.monotonic() < deadline, f"load stalled at {load.ok_puts} acknowledged puts"
        await asyncio.sleep(0.05)


async def test_sigkill_rounds_under_load(cluster: KVCluster) -> None:
    load = Load(cluster)
    watcher = Watcher(cluster)
    clients = [asyncio.create_task(load.client(i)) for i in range(CLIENTS)]
    watching = asyncio.create_task(watcher.run())
    try:
        await wait_puts(load, 50)
        for _ in range(ROUNDS):
            leader = await cluster.leader()
            cluster.members[leader].kill()
            t_kill = time.monotonic()
            await cluster.leader(timeout=10, exclude=leader)
            elected = time.monotonic() - t_kill
            assert elected < 3.0, f"no new leader within 3 s of the kill (took {elected:.2f}s)"
            await first_put_after(cluster, t_kill + 10)
            await wait_puts(load, 60)
            cluster.members[leader].start()
            await cluster.leader()
            await wait_puts(load, 40)
            current = await cluster.leader()
            follower = next(n for n in cluster.names if n != current)
            cluster.members[follower].kill()
            # while it is down, the log moves well past --snapshot-count + catch-up entries
            await wait_puts(load, 220)
            cluster.members[follower].start()
            await cluster.leader()
            await wait_puts(load, 40)
            assert any(e.get("msg") == "installed snapshot from leader"
                       for e in cluster.members[follower].log_lines()), "the lagging member was not sent a snapshot"
    finally:
        load.stop.set()
        await asyncio.gather(*clients)
        watcher.stop.set()
        await watching

    # every member converges on the same data, with every acknowledged write in it
    await cluster.leader()
    contents = []
    for ep in cluster.endpoints:
        async with grpc.aio.insecure_channel(ep) as ch:
            got = await rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"/acked/", range_end=b"/acked0"))
            contents.append({kv.key: kv.value for kv in got.kvs})
    missing = {k for k, v in load.acked.items() if contents[0].get(k) != v}
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert contents[0] == contents[1] == contents[2]
    # the watcher, moved between members by the kills, saw each change exactly once, in order
    seen = watcher.events
    assert watcher.reconnects >= ROUNDS
    assert [r for r, _, _ in seen] == sorted({r for r, _, _ in seen}), "watch skipped back or duplicated"
    truth = await all_events(cluster.endpoints[0], seen[-1][0])
    assert seen == truth[: len(seen)], "the resumed watch does not match the store's history"
    result = check(load.history)
    assert result.ok, result.describe()
    assert result.ops > 300
