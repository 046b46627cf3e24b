"""What this machine allows before kubelite does anything: the floors under issue 20's targets.

Several targets of issue 20 are rates or sizes that the shape of the system (separate
Python processes talking gRPC, as the design card asks) bounds before any of kubelite's
own work is counted. This benchmark measures those bounds on the machine it runs on,
with nothing of kubelite in the path, so a target can be compared with what is possible:

1. `grpc`: a Python `grpc.aio` server whose one method returns its request unchanged
   (generic handler, raw bytes, no protobuf, 2 KiB requests like a pod; tuned as the
   kvstore is: uvloop, GC settings, 0.5 ms GIL switch interval), driven by a
   `grpc.aio` client in this process at `--concurrency` in flight:
   - one hop (client -> no-op server): the most unary requests a Python gRPC server
     answers here, the ceiling of a kvstore member's client-facing server;
   - two hops (client -> relay -> no-op server, the relay making one unary call per
     request): the shape of every API write (client -> apiserver -> kvstore leader),
     before any Raft, disk, validation or watch work.
   Printed with the CPU each request took in all processes (client included, as in
   `bench/apiserver.py`, whose client also runs on this machine).
2. `memory`: N idle processes that import `grpc` and run an asyncio loop with one gRPC
   channel and server (what every kubelite daemon is at least): their summed RSS and PSS.

Run: `python bench/floors.py [grpc|memory|all] [--requests 20000] [--concurrency 64]
[--processes 14]`. Prints one `FLOOR` line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import cpu_seconds, free_port  # noqa: E402
from kubelite.daemon.eventloop import choose, loop_factory  # noqa: E402
from kubelite.daemon.gctuning import tune_for_server  # noqa: E402

METHOD = "/floor.Echo/Call"
PAYLOAD = b"p" * 2048


def _echo_handler(forward_to: str | None) -> grpc.GenericRpcHandler:
    """The one method: answer the request (relay: after one unary call to `forward_to`)."""
    forward: grpc.aio.UnaryUnaryMultiCallable | None = None
    if forward_to is not None:
        channel = grpc.aio.insecure_channel(forward_to)
        forward = channel.unary_unary(METHOD)

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if forward is not None:
            return bytes(await forward(request))
        return request

    return grpc.method_handlers_generic_handler("floor.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)})


async def serve(port: int, forward_to: str | None) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_echo_handler(forward_to),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    tune_for_server()
    await server.wait_for_termination()


def run_server(port: int, forward_to: str | None) -> None:
    """Tuned as kubelite's servers are, so the floor is theirs: the kvstore's GIL switch interval
    (gRPC's poller thread hands each completion to the loop), the daemons' GC settings and event loop."""
    sys.setswitchinterval(0.0005)
    with asyncio.Runner(loop_factory=loop_factory(choose(spawns_processes=False))) as runner:
        runner.run(serve(port, forward_to))


def start_server(port: int, forward_to: str | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, __file__, "_serve", str(port)] + ([forward_to] if forward_to else [])
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def drive(target: str, requests: int, concurrency: int) -> tuple[float, float]:
    """`requests` calls at `concurrency` in flight; (requests/s, this process's CPU seconds)."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(METHOD)
        deadline = time.monotonic() + 30
        while True:  # the servers are up when a call goes through
            try:
                await call(PAYLOAD, timeout=2)
                break
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await call(PAYLOAD)

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        return requests / wall, time.process_time() - cpu0


def grpc_floor(requests: int, concurrency: int) -> None:
    for hops in (1, 2):
        ports = [free_port() for _ in range(hops)]
        procs = [start_server(ports[-1])]
        if hops == 2:
            procs.append(start_server(ports[0], f"127.0.0.1:{ports[1]}"))
        try:
            rate, client_cpu = asyncio.run(drive(f"127.0.0.1:{ports[0]}", 500, concurrency))  # warm-up
            before = [cpu_seconds(p.pid) for p in procs]
            rate, client_cpu = asyncio.run(drive(f"127.0.0.1:{ports[0]}", requests, concurrency))
            servers_cpu = sum(cpu_seconds(p.pid) - b for p, b in zip(procs, before, strict=True))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
        per_request_us = (servers_cpu + client_cpu) / requests * 1e6
        shape = "client -> no-op server" if hops == 1 else "client -> relay -> no-op server (an API write's shape)"
        print(f"FLOOR grpc {hops} hop{'s' if hops > 1 else ''} ({shape}), {concurrency} in flight: "
              f"{rate:,.0f} requests/s; CPU per request {per_request_us:,.0f} us "
              f"(servers {servers_cpu / requests * 1e6:,.0f}, client {client_cpu / requests * 1e6:,.0f}) "
              f"on {os.cpu_count()} CPUs")


IDLE_DAEMON = """
import asyncio, grpc
async def main():
    server = grpc.aio.server(); port = server.add_insecure_port("127.0.0.1:0"); await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _smaps_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def memory_floor(processes: int) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", IDLE_DAEMON], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    try:
        for p in procs:
            assert p.stdout is not None
            p.stdout.readline()
        sizes = [_smaps_kb(p.pid) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    rss, pss = sum(s[0] for s in sizes) / 1024, sum(s[1] for s in sizes) / 1024
    print(f"FLOOR memory {processes} idle Python processes with grpc.aio (a server and a channel each, nothing "
          f"else imported): RSS {rss:.0f} MB ({rss / processes:.1f} MB each), PSS {pss:.0f} MB")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_serve":
        run_server(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", choices=["grpc", "memory", "all"], default="all")
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--processes", type=int, default=14, help="memory: as many as an idle `kubelite up` runs")
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    if args.what in ("grpc", "all"):
        grpc_floor(args.requests, args.concurrency)
    if args.what in ("memory", "all"):
        memory_floor(args.processes)


if __name__ == "__main__":
    main()
