"""What the Raft heartbeat interval costs and buys: idle CPU of a 3-member kvstore, and the time
from SIGKILLing its leader to the next acknowledged put.

Why both in one benchmark: a longer heartbeat means fewer idle messages (each one a wake-up,
a TLS record and a loop turn on two members), and the question is whether it slows failover.
It should not: a follower's election clock (`--election-timeout`, randomized up to twice it)
decides when a dead leader is replaced, and a new leader appends at once instead of waiting
for a tick. This measures it, on real processes, alternating the settings being compared.

    python bench/kvstore_failover.py --heartbeats 100,200 --kills 8

prints per heartbeat interval:

    FIGURE kvstore idle 3 members heartbeat 100ms: CPU 1.52% of one core over 20s
    FIGURE kvstore failover heartbeat 100ms: leader SIGKILL -> put acknowledged p50 1,620 ms, max 2,310 ms (8 kills)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import cpu_seconds, plan_kvstore, start, stop_all, wait_ready  # noqa: E402
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc  # noqa: E402


class Members:
    """Three members started with one heartbeat interval; each can be killed and restarted."""

    def __init__(self, root: Path, heartbeat_ms: int) -> None:
        self.root = root
        planned = plan_kvstore(root, 3, "--heartbeat-interval", str(heartbeat_ms))
        self.argv = {m.name: m.argv for m in planned}
        self.endpoint = {m.name: m.endpoint for m in planned}
        self.health = {m.name: m.health for m in planned}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    async def start(self, name: str) -> None:
        self.procs[name] = start(self.argv[name], self.root / f"{name}.log")
        await wait_ready(self.health[name], timeout=60.0)

    async def leader(self) -> str:
        """The member every live member names as leader (polled until they agree)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen: dict[str, int] = {}
            ids: dict[int, str] = {}
            for n, proc in self.procs.items():
                if proc.poll() is not None:
                    continue
                try:
                    async with grpc.aio.insecure_channel(self.endpoint[n]) as ch:
                        st = await rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    continue
                seen[n], ids[st.header.member_id] = st.leader, n
            if len(seen) == len(self.procs) and len(set(seen.values())) == 1 and next(iter(seen.values())) in ids:
                return ids[next(iter(seen.values()))]
            await asyncio.sleep(0.05)
        raise SystemExit("the members did not agree on a leader")

    async def failover(self) -> float:
        """SIGKILL the leader; seconds until a survivor acknowledges a put."""
        dead = await self.leader()
        survivors = [self.endpoint[n] for n in self.procs if n != dead]
        channels = [grpc.aio.insecure_channel(e) for e in survivors]
        stubs = [rpc_pb2_grpc.KVStub(ch) for ch in channels]
        for stub in stubs:  # connected before the kill: the figure is the election, not a handshake
            await stub.Range(rpc_pb2.RangeRequest(key=b"failover", serializable=True), timeout=5)
        self.procs[dead].kill()
        killed = time.monotonic()
        self.procs[dead].wait()
        try:
            i = 0
            while time.monotonic() - killed < 30:
                # Short attempts: a put a survivor forwarded to the dead leader is lost there, and
                # waits out the request timeout (5 s), as etcd's would. Resolution: ~50 ms.
                try:
                    await stubs[i % len(stubs)].Put(rpc_pb2.PutRequest(key=b"failover", value=b"x"), timeout=0.05)
                    return time.monotonic() - killed
                except grpc.aio.AioRpcError:
                    i += 1
            raise SystemExit("no put was acknowledged within 30 s of the leader's death")
        finally:
            for ch in channels:
                await ch.close(None)
            await self.start(dead)

    def idle_cpu(self, seconds: float) -> float:
        """The members' CPU over `seconds` of idleness, in % of one core."""
        pids = [p.pid for p in self.procs.values()]
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(seconds)
        return (sum(cpu_seconds(pid) for pid in pids) - before) / seconds * 100


async def measure(root: Path, heartbeat_ms: int, kills: int, idle: float) -> tuple[float, list[float]]:
    members = Members(root, heartbeat_ms)
    try:
        for n in members.argv:
            members.procs[n] = start(members.argv[n], root / f"{n}.log")
        for n in members.argv:
            await wait_ready(members.health[n], timeout=60.0)
        await members.leader()
        await asyncio.sleep(2)  # past start-up's elections and first writes
        cpu = members.idle_cpu(idle)
        times = [await members.failover() for _ in range(kills)]
        return cpu, times
    finally:
        stop_all(list(members.procs.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heartbeats", default="100,200", help="heartbeat intervals to compare, ms, comma-separated")
    parser.add_argument("--kills", type=int, default=8, help="leader kills per interval and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds over the intervals")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU sampled")
    args = parser.parse_args()
    intervals = [int(x) for x in args.heartbeats.split(",")]
    cpu: dict[int, list[float]] = {h: [] for h in intervals}
    times: dict[int, list[float]] = {h: [] for h in intervals}
    for r in range(args.rounds):
        for h in intervals:
            with tempfile.TemporaryDirectory(prefix="klfailover-") as tmp:
                c, t = asyncio.run(measure(Path(tmp), h, args.kills, args.idle))
            cpu[h].append(c)
            times[h] += t
            print(f"round {r + 1} heartbeat {h} ms: idle {c:.2f}%, failover "
                  + ", ".join(f"{x * 1000:.0f}" for x in t) + " ms", flush=True)
    for h in intervals:
        ms = sorted(x * 1000 for x in times[h])
        print(f"FIGURE kvstore idle 3 members heartbeat {h}ms: CPU "
              + " / ".join(f"{c:.2f}%" for c in cpu[h]) + f" of one core over {args.idle:g}s")
        print(f"FIGURE kvstore failover heartbeat {h}ms: leader SIGKILL -> put acknowledged "
              f"p50 {statistics.median(ms):,.0f} ms, max {ms[-1]:,.0f} ms ({len(ms)} kills)")


if __name__ == "__main__":
    main()
