"""What every benchmark needs: free ports, daemons started as real processes, readiness waits.

Why real processes: the figures must include gRPC, serialization and the
process boundaries a user's cluster has, not an in-process shortcut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The repository first: scripts run as `python bench/x.py` have bench/ first on the path, where
# bench/kvstore.py would shadow the `kvstore` package.
sys.path.insert(0, str(ROOT))

from kubelite.procs import http_get_status  # noqa: E402

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port not handed out before in this run (the kernel may offer a just-closed one
    again, and a member's Raft port is its peer port + 2, which `free_peer_port` reserves)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_is_free(port: int) -> bool:
    """Nothing on this host listens on `port` (TCP or UDP, any address): a wildcard bind fails
    if any socket holds the port on some address."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_peer_port() -> int:
    """A free kvstore peer port whose Raft stream port (`kvstore.raftstream.raft_port`) is free
    too; both are handed out, so no later `free_port` of this run returns the Raft port."""
    from kvstore.raftstream import raft_port

    while True:
        port = free_port()
        raft = raft_port(port)
        if raft not in _HANDED_OUT and port_is_free(raft):
            _HANDED_OUT.add(raft)
            return port


def cluster_ports(argvs: list[list[str]]) -> set[int]:
    """Every port in the components' command lines (HOST:PORT anywhere in an argument, and
    --secure-port), above 1023, plus each kvstore member's Raft stream port (derived from its
    --listen-peer): the fixed low ports (DNS on the bridge address) are per net id."""
    from kvstore.raftstream import raft_port

    ports: set[int] = set()
    for argv in argvs:
        for i, arg in enumerate(argv):
            ports.update(int(p) for p in re.findall(r"[0-9.]+:(\d+)", arg))
            if arg == "--secure-port" and i + 1 < len(argv):
                ports.add(int(argv[i + 1]))
            if arg == "--listen-peer" and i + 1 < len(argv):
                ports.add(raft_port(int(argv[i + 1].rpartition(":")[2])))
    return {p for p in ports if 1023 < p < 65536}


def free_port_offset(ports_for: Callable[[int], set[int]], lo: int = 10_000, hi: int = 50_000,
                     tries: int = 200) -> int:
    """A --port-offset for `kubelite up` whose every port (`ports_for(offset)`) is free now, so a
    benchmark does not collide with another cluster on the machine (a random offset once put
    the DNS health port on one in use). Another process may still take one before `up` binds
    it; callers retry `up` with a new offset on "address already in use"."""
    rng = random.Random()
    for _ in range(tries):
        offset = rng.randrange(lo, hi, 10)
        ports = ports_for(offset)
        if all(port_is_free(p) for p in ports):
            return offset
    raise RuntimeError(f"no port offset in [{lo}, {hi}) with all its ports free")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: unlike wall time, barely moved by other load."""
    return cpu_times(pid)[0]


def cpu_times(pid: int) -> tuple[float, float]:
    """(own user + system CPU seconds, those of its waited-for children such as `ip` or `runc`)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`kubelite <argv>` as a child process, output to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "kubelite.main", *argv], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)


async def wait_ready(health: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await http_get_status(health, "/readyz") == 200:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"daemon at {health} did not become ready")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@dataclass(frozen=True)
class KVMember:
    """One planned kvstore member: its `kubelite` argv and where it answers."""

    name: str
    argv: list[str]
    endpoint: str
    health: str


def plan_kvstore(tmp: Path, members: int = 1, *extra: str) -> list[KVMember]:
    """Members `kv-1`.. on free loopback ports (Raft over loopback when more than one), data
    under `tmp`, each with the `extra` flags."""
    names = [f"kv-{i}" for i in range(1, members + 1)]
    peer = {n: free_peer_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peer[n]}" for n in names)
    planned = []
    for n in names:
        endpoint, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        argv = ["kvstore", "--name", n, "--data-dir", f"{tmp}/{n}", "--listen-client", endpoint,
                "--listen-health", health, "--log-level", "warning"]
        if members > 1:
            argv += ["--listen-peer", f"127.0.0.1:{peer[n]}", "--initial-cluster", initial]
        planned.append(KVMember(n, argv + list(extra), endpoint, health))
    return planned


async def start_kvstore(tmp: Path, procs: list[subprocess.Popen[bytes]], members: int = 1) -> list[str]:
    """A kvstore of `members` members; returns the client endpoints once every member answers
    /readyz."""
    planned = plan_kvstore(tmp, members)
    for m in planned:
        procs.append(start(m.argv, tmp / f"{m.name}.log"))
    for m in planned:
        await wait_ready(m.health, timeout=60.0)
    return [m.endpoint for m in planned]


async def start_control_plane(tmp: Path, procs: list[subprocess.Popen[bytes]],
                              apiserver_args: list[str] | None = None, kv_members: int = 1) -> str:
    """A kvstore of `kv_members` members and an apiserver (plus `apiserver_args`); returns the
    apiserver address."""
    tmp.mkdir(parents=True, exist_ok=True)
    endpoints = await start_kvstore(tmp, procs, kv_members)
    api, apih = free_port(), free_port()
    procs.append(start(["apiserver", "--etcd-servers", ",".join(endpoints), "--listen", f"127.0.0.1:{api}",
                        "--listen-health", f"127.0.0.1:{apih}", *(apiserver_args or [])], tmp / "api.log"))
    await wait_ready(f"127.0.0.1:{apih}")
    return f"127.0.0.1:{api}"


async def create_default_service_account(client: Any) -> None:
    """default/default, which ServiceAccount admission requires for a pod; in a cluster the
    controller-manager makes it, and a benchmark's control plane runs none."""
    await client.create_raw("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": "default", "namespace": "default"}})


def kubelite_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`kubelite <args>` run to completion. A throwaway KUBECONFIG: `up` merges its kubectl context
    there, not into the user's ~/.kube/config."""
    env = dict(os.environ, KUBECONFIG=f"/tmp/kubelite-bench-{os.getpid()}.kubeconfig")
    return subprocess.run([sys.executable, "-m", "kubelite.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def local_cluster_ports(nodes: int, offset: int, net_id: int) -> set[int]:
    """The host ports `kubelite up` would bind with this offset (from the plan it would run)."""
    from kubelite.settings import ClusterSettings

    plan = ClusterSettings(nodes=nodes, port_offset=offset, runtime="runc", net_id=net_id,
                           kv_members=3).plan(Path("/"))
    return cluster_ports([c.argv for c in plan.components])


def up_local_cluster(data_dir: Path, nodes: int, attempts: int = 3) -> tuple[int, int]:
    """`kubelite up --nodes N --runtime runc --kv-members 3` on a port offset whose ports are all
    free and a bridge id no other cluster uses; if another process takes a port in between
    ("address already in use"), down and retry with new ones. kctl's config goes to
    `data_dir/config`. Returns (offset, net id)."""
    from tests.e2e.cluster import free_net_id

    for attempt in range(1, attempts + 1):
        net_id = free_net_id()
        offset = free_port_offset(lambda o: local_cluster_ports(nodes, o, net_id))  # noqa: B023 (called here)
        up = kubelite_cli("up", "--nodes", str(nodes), "--runtime", "runc", "--kv-members", "3",
                          "--data-dir", str(data_dir), "--port-offset", str(offset), "--net-id", str(net_id),
                          "--config-out", str(data_dir / "config"), "-q")
        if up.returncode == 0:
            return offset, net_id
        output = f"{up.stdout}\n{up.stderr}"
        if "address already in use" not in output.lower() or attempt == attempts:
            raise SystemExit(f"kubelite up failed:\n{output}")
        print(f"kubelite up: a port was taken meanwhile (offset {offset}); retrying with another")
        kubelite_cli("down", "--data-dir", str(data_dir), "--purge")
    raise AssertionError("unreachable")


def end_local_cluster(data_dir: Path, keep: bool) -> None:
    """The end of a benchmark's own cluster: `kubelite down --purge`, printing its verdict,
    or with `keep` the command that will."""
    if keep:
        print(f"cluster left running: kubelite down --data-dir {data_dir}")
        return
    down = kubelite_cli("down", "--data-dir", str(data_dir), "--purge")
    print(down.stdout.strip().splitlines()[-1] if down.stdout.strip() else down.stderr)
    with contextlib.suppress(OSError):
        data_dir.rmdir()  # left empty when `up` failed before writing any state
