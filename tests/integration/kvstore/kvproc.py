"""Run `kubelite kvstore` as a real OS process for integration tests.

Ports are chosen by the daemon (`127.0.0.1:0`) and read back from its JSON log,
so tests never race other processes for a port.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from kvstore.raftstream import raft_port

REPO = Path(__file__).resolve().parents[3]


class KVProcess:
    def __init__(self, data_dir: Path, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.health = ""

    def start(self, wait: bool = True) -> KVProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubelite.main", "kvstore", "--data-dir", str(self.data_dir),
             "--listen-client", "127.0.0.1:0", "--listen-health", "127.0.0.1:0", *self.extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log,
        )
        if wait:
            self.wait_serving()
        return self

    def log_lines(self) -> list[dict[str, object]]:
        out = []
        with self.log_path.open("rb") as fh:
            fh.seek(self._offset)
            for line in fh.read().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"msg": line.decode(errors="replace")})
        return out

    def wait_serving(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_lines():
                if entry.get("msg") == "health endpoint listening":
                    self.health = str(entry["addr"])
                if entry.get("msg") == "kvstore serving":
                    self.endpoint = str(entry["endpoint"])
                    return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"kvstore exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.02)  # polling the log for the line, not synchronising on time
        raise AssertionError(f"kvstore not serving after {timeout}s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20)
        self._log.close()
        return rc

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_HANDED_OUT: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_peer_port() -> int:
    """A free peer port whose Raft stream port (peer + 2, `kvstore.raftstream`) is free too.

    Both lie below the kernel's ephemeral range: ports from bind(("", 0)) share one parity and
    are handed out near each other, so an ephemeral peer port's +2 was often what the next
    member's `--listen-client 127.0.0.1:0` took before that member bound its Raft port.
    Ports handed out once are not handed out again, so a cluster's members never share one.
    """
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    while True:
        port = rng.randrange(10_000, ephemeral_low - 2)
        pair = {port, raft_port(port)}
        if pair & _HANDED_OUT or not all(_bindable(p) for p in pair):
            continue
        _HANDED_OUT.update(pair)
        return port


class KVCluster:
    """N `kubelite kvstore` processes forming one Raft cluster on loopback."""

    def __init__(self, root: Path, size: int = 3, *extra: str) -> None:
        self.root = root
        self.names = [f"kv-{i}" for i in range(1, size + 1)]
        self.peer_urls = {n: f"http://127.0.0.1:{free_peer_port()}" for n in self.names}
        self.extra = list(extra)
        self.members: dict[str, KVProcess] = {}
        initial = self.initial_cluster()
        for n in self.names:
            self.members[n] = KVProcess(root / n, root / f"{n}.log", "--name", n, "--initial-cluster", initial,
                                        *self.extra)

    def initial_cluster(self) -> str:
        return ",".join(f"{n}={u}" for n, u in self.peer_urls.items())

    def start(self) -> KVCluster:
        for m in self.members.values():
            m.start(wait=False)
        for m in self.members.values():
            m.wait_serving()
        return self

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members.values() if m.proc is not None and m.proc.poll() is None]

    async def status(self, name: str, timeout: float = 2.0) -> rpc_pb2.StatusResponse | None:
        async with grpc.aio.insecure_channel(self.members[name].endpoint) as ch:
            try:
                return await rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=timeout)
            except grpc.aio.AioRpcError:
                return None

    async def leader(self, timeout: float = 10.0, exclude: str = "") -> str:
        """Name of the member every live member agrees leads (polls until one does)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [n for n, m in self.members.items()
                    if n != exclude and m.proc is not None and m.proc.poll() is None]
            sts = {n: await self.status(n) for n in live}
            ids = {st.leader for st in sts.values() if st is not None}
            if len(ids) == 1 and None not in sts.values() and 0 not in ids:
                (lead,) = ids
                for n, st in sts.items():
                    if st is not None and st.header.member_id == lead:
                        return n
            await asyncio.sleep(0.05)
        raise AssertionError(f"no agreed leader within {timeout}s")

    def cleanup(self) -> None:
        for m in self.members.values():
            m.cleanup()
