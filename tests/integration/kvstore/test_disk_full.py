"""Three real kvstore processes; the leader's data directory is a small tmpfs that gets filled.

What a user sees: the full member refuses writes with a clear `no space` error, reports it on
/readyz, in `etcdctl endpoint status` (Status errors) and as a NOSPACE alarm, and gives up
leadership; writes through the cluster keep succeeding via the other two. Deleting the filler
file brings the member back by itself (same process), it catches up, and every acknowledged
write is on every member.
"""

from __future__ import annotations

import asyncio
import errno
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from tests.integration.kvstore.kvproc import KVCluster
from tests.integration.kvstore.test_failover import Load, wait_puts

pytestmark = [pytest.mark.integration, pytest.mark.requires_root("mounts a small tmpfs as one member's data dir")]

SMALL = "kv-1"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / SMALL
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def cluster(tmp_path: Path, small_disk: Path) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path, 3, "--snapshot-count", "300", "--snapshot-catchup-entries", "50")
    try:
        yield c.start()
    finally:
        c.cleanup()  # before the tmpfs is unmounted: a live member would keep it busy


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = directory / "filler"
    block = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as fh:
        while True:
            try:
                fh.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                block = block[: len(block) // 2]
                if len(block) < 512:
                    return filler


def _readyz(health: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{health}/readyz", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def readyz(health: str) -> tuple[int, str]:
    return await asyncio.to_thread(_readyz, health)


async def poll(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.1)


async def put_on(endpoint: str, key: bytes) -> grpc.aio.AioRpcError | None:
    async with grpc.aio.insecure_channel(endpoint) as ch:
        try:
            await rpc_pb2_grpc.KVStub(ch).Put(rpc_pb2.PutRequest(key=key, value=b"v"), timeout=3)
        except grpc.aio.AioRpcError as err:
            return err
    return None


async def acked_keys(endpoint: str) -> dict[bytes, bytes]:
    async with grpc.aio.insecure_channel(endpoint) as ch:  # linearizable: waits until caught up
        got = await rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"/acked/", range_end=b"/acked0"),
                                                  timeout=10)
    return {kv.key: kv.value for kv in got.kvs}


async def test_full_disk_member_steps_down_and_catches_up(cluster: KVCluster, small_disk: Path) -> None:
    member = cluster.members[SMALL]
    # make the member on the small disk the leader, so the fault has leadership to give up
    leader = await cluster.leader()
    st = await cluster.status(SMALL)
    assert st is not None
    if leader != SMALL:
        async with grpc.aio.insecure_channel(cluster.members[leader].endpoint) as ch:
            await rpc_pb2_grpc.MaintenanceStub(ch).MoveLeader(
                rpc_pb2.MoveLeaderRequest(targetID=st.header.member_id), timeout=10)
    assert await cluster.leader() == SMALL

    load = Load(cluster)
    clients = [asyncio.create_task(load.client(i)) for i in range(4)]
    try:
        await wait_puts(load, 40)
        filler = await asyncio.to_thread(fill, small_disk)
        t_full = time.monotonic()

        # the full member says why it is not ready, and leadership moves to a member that can write
        async def says_full() -> bool:
            return "no space left on device (ENOSPC)" in (await readyz(member.health))[1]

        await poll("/readyz names the full disk", says_full, 20)
        code, body = await readyz(member.health)
        assert code == 503 and str(small_disk) in body, body
        new_leader = await cluster.leader(timeout=10, exclude=SMALL)
        moved = time.monotonic() - t_full
        assert new_leader != SMALL
        err = await put_on(member.endpoint, b"/refused")
        assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE, err
        assert "etcdserver: no space" in (err.details() or ""), err.details()
        status = await cluster.status(SMALL)
        assert status is not None and any("no space left on device" in e for e in status.errors), status
        async with grpc.aio.insecure_channel(member.endpoint) as ch:
            alarms = await rpc_pb2_grpc.MaintenanceStub(ch).Alarm(rpc_pb2.AlarmRequest(), timeout=3)
        assert [(a.memberID, a.alarm) for a in alarms.alarms] == [(st.header.member_id, rpc_pb2.NOSPACE)]

        # the cluster keeps taking writes through the other two (past a snapshot + log compaction)
        await wait_puts(load, 400, timeout=60)
        assert member.proc is not None and member.proc.poll() is None  # degraded, not dead

        # free the space: the same process comes back and catches up
        filler.unlink()
        t_freed = time.monotonic()
        async def is_ready() -> bool:
            return (await readyz(member.health))[0] == 200

        await poll("the member is ready again", is_ready, 30)
        back = time.monotonic() - t_freed
        await wait_puts(load, 40)
    finally:
        load.stop.set()
        await asyncio.gather(*clients)

    contents = [await acked_keys(cluster.members[n].endpoint) for n in cluster.names]
    missing = {k for k, v in load.acked.items() if contents[0].get(k) != v}
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert contents[0] == contents[1] == contents[2], "the member that was full does not hold the same data"
    assert await put_on(member.endpoint, b"/after") is None
    msgs = [e.get("msg") for e in member.log_lines()]
    assert "kvstore storage fault: writes refused until the disk works again" in msgs
    assert "kvstore disk works again; rejoining from the log on disk" in msgs
    print(f"leadership moved {moved:.2f}s after the disk filled; member ready {back:.2f}s after space was "
          f"freed; {len(load.acked)} acknowledged writes, 0 lost")
