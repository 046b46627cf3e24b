"""Where a lone kvstore put's time goes, stage by stage, across the three members.

Why: a put at 1 in flight crosses two processes' event loops, two peer-stream hops,
fsync threads and gRPC on both ends; a p50 alone cannot say which of these to fix.
This starts a 3-member kubelite kvstore whose members record a timestamp at each
stage (CLOCK_MONOTONIC is one clock for every process on the machine), sends lone
puts through the leader and then through a follower, and prints the median and p90
of each stage: client -> handler, the leader's turn and Ready, its fsync thread (hop
in, fdatasync, hop back), the append's peer hop, the follower's turn and fsync, the
ack's hop, the commit Ready, (the commit notice to a serving follower,) the answer.

Run: `python bench/kvstore_stages.py [--puts 200]`. The hooks wrap member functions
(`bench/kvstore_stages.py --member ...` is how each member is started), so a stage
whose function was renamed shows as untraced. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

Event = tuple[float, str, str, str]  # (time, member, event, detail)
TRACE_ENV = "KVSTAGES_TRACE"


# ------------------------------------------------------------------ member side

def _member(argv: list[str]) -> None:
    """Run one kvstore member with timestamp hooks; dump them on SIGUSR1."""
    import inspect
    import runpy

    from kvstore import logdisk, member_core, node, peer, service

    events: list[tuple[float, str, str]] = []
    now = time.monotonic

    def kinds(msgs: Sequence[Any]) -> str:
        return ",".join(f"{m.type.name}>{m.to & 0xfff:x}" + (f"[{len(m.entries)}]" if m.entries else "") for m in msgs)

    def hook(cls: Any, name: str, event: str, detail: Callable[..., str] | None = None,
             after: str = "") -> None:
        f = getattr(cls, name)
        if inspect.iscoroutinefunction(f):
            async def wrapped_async(*a: Any, **k: Any) -> Any:
                events.append((now(), event, detail(*a, **k) if detail else ""))
                r = await f(*a, **k)
                if after:
                    events.append((now(), after, ""))
                return r
            setattr(cls, name, functools.wraps(f)(wrapped_async))
            return

        def wrapped(*a: Any, **k: Any) -> Any:
            events.append((now(), event, detail(*a, **k) if detail else ""))
            r = f(*a, **k)
            if after:
                events.append((now(), after, ""))
            return r
        setattr(cls, name, functools.wraps(f)(wrapped))

    hook(service.KVService, "Put", "put_in", after="put_out")
    hook(node.KVNode, "_feed", "turn")
    hook(member_core.MemberCore, "begin", "begin",
         lambda self, rd: f"role={self.role} ents={len(rd.entries)} comm={len(rd.committed_entries)}")
    hook(node.KVNode, "receive", "recv", lambda self, msgs: ",".join(f"{m.type.name}<{m.frm & 0xfff:x}" for m in msgs))
    hook(logdisk.WalDisk, "save", "save_start", after="save_end")
    hook(member_core.MemberCore, "end", "end")
    hook(node.KVNode, "answer", "answer")
    batch_to_pb = peer.batch_to_pb

    def traced_batch(cluster_id: int, frm: int, msgs: Sequence[Any]) -> Any:
        events.append((now(), "write", kinds(msgs)))  # the peer task is about to write the stream
        return batch_to_pb(cluster_id, frm, msgs)
    peer.batch_to_pb = traced_batch  # type: ignore[assignment]
    name = argv[argv.index("--name") + 1]

    def dump(*_: object) -> None:
        with open(Path(os.environ[TRACE_ENV]) / f"{name}.json", "w") as f:
            json.dump(events, f)
    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["kubelite.main", *argv]
    runpy.run_module("kubelite.main", run_name="__main__")


# ------------------------------------------------------------------ driver side

def _start(root: Path) -> tuple[Any, list[str]]:
    from bench.harness import free_peer_port, free_port
    from bench.kvstore import Cluster

    names = ["kv-1", "kv-2", "kv-3"]
    peers = {n: free_peer_port() for n in names}
    clients = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peers[n]}" for n in names)
    env = dict(os.environ, **{TRACE_ENV: str(root)})
    procs = []
    for n in names:
        argv = [sys.executable, __file__, "--member", "kvstore", "--name", n, "--data-dir", str(root / n),
                "--listen-client", f"127.0.0.1:{clients[n]}", "--listen-peer", f"127.0.0.1:{peers[n]}",
                "--listen-health", f"127.0.0.1:{free_port()}", "--log-level", "warning", "--initial-cluster", initial]
        with open(root / f"{n}.log", "wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env))
    return Cluster("kubelite", procs, [f"127.0.0.1:{clients[n]}" for n in names],
                   [root / f"{n}.log" for n in names]), names


async def _lone_puts(endpoint: str, n: int) -> list[tuple[float, float]]:
    import grpc

    from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc

    out = []
    async with grpc.aio.insecure_channel(endpoint) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        for i in range(n + 30):
            t0 = time.monotonic()
            await kv.Put(rpc_pb2.PutRequest(key=f"/stages/{i}".encode(), value=b"v" * 256), timeout=30)
            if i >= 30:  # the first ones warm the channel up
                out.append((t0, time.monotonic()))
            await asyncio.sleep(0.002)  # let the members go idle: a lone request, not a stream
    return out


class Trace:
    """Every member's events merged in time order, and the stage split of one put."""

    def __init__(self, events: dict[str, list[tuple[float, str, str]]], ids: dict[str, str], leader: str) -> None:
        self.all: list[Event] = sorted((t, n, e, d) for n, es in events.items() for t, e, d in es)
        self.times = [ev[0] for ev in self.all]
        self.ids, self.leader = ids, leader

    def stages(self, t0: float, t1: float, serving: str) -> dict[str, float] | None:
        i, j = bisect.bisect_left(self.times, t0), bisect.bisect_right(self.times, t1 + 1e-3)
        w = self.all[i:j]
        lead, s = self.leader, {}

        def first(member: str, event: str, after: float, has: str = "", lacks: str = "") -> float:
            for t, n, e, d in w:
                if t >= after and n == member and e == event and has in d and not (lacks and lacks in d):
                    return t
            raise LookupError(event)
        try:
            t_in = first(serving, "put_in", t0)
            s["client -> server handler"] = t_in - t0
            lb = first(lead, "begin", t_in, "role=leader", "ents=0")
            if serving != lead:
                fw = first(serving, "write", t_in, "PROP")
                lr = first(lead, "recv", fw, "PROP")
                s["handler -> PROP written (serving follower)"] = fw - t_in
                s["PROP hop to the leader"] = lr - fw
                s["leader: PROP received -> Ready"] = lb - lr
            else:
                s["handler -> leader's Ready"] = lb - t_in
            ls, le = first(lead, "save_start", lb), first(lead, "save_end", lb)
            lend = first(lead, "end", le)
            s["leader: Ready -> fsync thread starts"] = ls - lb
            s["leader: WAL write + fdatasync"] = le - ls
            s["leader: fsync thread -> loop resumes"] = lend - le
            ack = next((t, d) for t, n, e, d in w if t >= lb and n == lead and e == "recv" and "APP_RESP" in d)
            fid = ack[1].split("<")[1].split(",")[0]
            fol = self.ids[fid]
            aw = first(lead, "write", lb, f">{fid}[")
            s["leader: Ready -> append written"] = aw - lb
            fr = first(fol, "recv", aw, "APP")
            s["append hop to the follower"] = fr - aw
            fb = first(fol, "begin", fr)
            s["follower: received -> Ready"] = fb - fr
            fs, fe = first(fol, "save_start", fb), first(fol, "save_end", fb)
            s["follower: Ready -> fsync thread starts"] = fs - fb
            s["follower: WAL write + fdatasync"] = fe - fs
            fw2 = first(fol, "write", fe, "APP_RESP")
            s["follower: fsync done -> ack written"] = fw2 - fe
            s["ack hop to the leader"] = ack[0] - fw2
            s["leader: ack waits for its own fsync"] = max(0.0, lend - ack[0])
            lc = first(lead, "begin", max(ack[0], lend), "", "comm=0")
            s["leader: ack -> commit Ready"] = lc - max(ack[0], lend)
            if serving == lead:
                an = first(lead, "answer", lc)
                s["leader: commit Ready -> answer"] = an - lc
            else:
                sid = next(k for k, v in self.ids.items() if v == serving)
                nw = first(lead, "write", lc, f">{sid}")
                nr = first(serving, "recv", nw, "APP")
                an = first(serving, "answer", nr)
                s["leader: commit Ready -> notice written"] = nw - lc
                s["commit notice hop to the serving follower"] = nr - nw
                s["serving follower: notice -> answer"] = an - nr
            out = first(serving, "put_out", an)
            s["answer -> handler returns"] = out - an
            s["handler returns -> client has the answer"] = t1 - out
        except (LookupError, StopIteration, IndexError, KeyError):
            return None  # a stage overlapped another put's or a heartbeat's: skip this put
        s["TOTAL"] = t1 - t0
        return s


def _print(kind: str, puts: list[tuple[float, float]], trace: Trace, serving: str) -> None:
    split = [s for s in (trace.stages(t0, t1, serving) for t0, t1 in puts) if s]
    lat = sorted(1000 * (t1 - t0) for t0, t1 in puts)
    print(f"client on the {kind}: {len(puts)} lone puts, p50 {statistics.median(lat):.2f} ms, "
          f"p90 {lat[int(len(lat) * 0.9)]:.2f} ms; {len(split)} split into stages (ms, median / p90):")
    if not split:
        return
    for key in split[0]:
        v = sorted(1000 * s[key] for s in split)
        print(f"  {key:46} {statistics.median(v):6.2f} / {v[int(len(v) * 0.9)]:6.2f}")


async def _drive(puts: int) -> None:
    import grpc

    from bench.kvstore import wait_serving
    from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc

    root = Path(tempfile.mkdtemp(prefix="kvstages-"))
    cluster, names = _start(root)
    try:
        await wait_serving(cluster)
        ids, leader = {}, ""
        for n, ep in zip(names, cluster.endpoints, strict=True):
            async with grpc.aio.insecure_channel(ep) as ch:
                st = await rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=5)
                ids[f"{st.header.member_id & 0xfff:x}"] = n
                leader = n if st.leader == st.header.member_id else leader
        follower = names[(names.index(leader) + 1) % 3]
        on_leader = await _lone_puts(cluster.endpoints[names.index(leader)], puts)
        on_follower = await _lone_puts(cluster.endpoints[names.index(follower)], puts)
        for p in cluster.procs:
            p.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all((root / f"{n}.json").exists() for n in names):
            time.sleep(0.1)  # poll for the members' dumps (written by their signal handlers)
    finally:
        cluster.stop()
    events = {n: json.loads((root / f"{n}.json").read_text()) for n in names}
    trace = Trace(events, ids, leader)
    _print("leader", on_leader, trace, leader)
    _print("follower", on_follower, trace, follower)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        _member(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--puts", type=int, default=200, help="lone puts through the leader, then through a follower")
    asyncio.run(_drive(ap.parse_args().puts))


if __name__ == "__main__":
    main()
