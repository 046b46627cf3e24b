"""A small network of namespaces for proxy tests: one node, pods behind its bridge, an outside client.

    outside ns  eth0 192.168.77.2 ──veth── ext0 192.168.77.1 (node IP)   node ns
                                                 br0 10.244.1.1/24 ──veth── pod ns: eth0 10.244.1.N
                                                                            (busybox httpd :8080 serving "<pod name>")

The proxy runs inside the node namespace (`ip netns exec`), as under
`kubelite up`; it reaches the in-process apiserver through a unix socket
forwarded to TCP (a unix socket path is visible from every network namespace).
Names carry the test process pid, and `close()` removes every namespace and
process it created.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NODE_IP = "192.168.77.1"
OUTSIDE_IP = "192.168.77.2"
POD_GATEWAY = "10.244.1.1"


def missing_requirements() -> str | None:
    """Tools the lab needs (root is asked for by the tests' `requires_root` marker)."""
    for tool in ("ip", "iptables-restore", "iptables-save", "busybox"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


class Lab:
    def __init__(self, tag: str, pods: int = 3) -> None:
        self.tag = tag
        self.node = f"{tag}-node"
        self.outside = f"{tag}-out"
        self.pods = {f"pod{i}": (f"{tag}-pod{i}", f"10.244.1.{i + 10}") for i in range(pods)}
        self.dir = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    # -------------------------------------------------------------- set up

    def _netns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def setup(self) -> Lab:
        node = self.node
        self._netns(node)
        sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
        sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", node, "addr", "add", f"{POD_GATEWAY}/24", "dev", "br0")
        sh("ip", "-n", node, "link", "set", "br0", "up")
        sh("ip", "-n", node, "route", "add", "10.96.0.0/12", "dev", "br0")  # a route for ClusterIPs (design §10)
        self._netns(self.outside)
        sh("ip", "-n", node, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", self.outside)
        sh("ip", "-n", node, "addr", "add", f"{NODE_IP}/24", "dev", "ext0")
        sh("ip", "-n", node, "link", "set", "ext0", "up")
        sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "link", "set", "eth0", "up")
        sh("ip", "-n", self.outside, "route", "add", "10.96.0.0/12", "via", NODE_IP)
        for i, (pod, (ns, ip)) in enumerate(self.pods.items()):
            self._netns(ns)
            port = f"vp{i}"
            sh("ip", "-n", node, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", node, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", node, "link", "set", port, "type", "bridge_slave", "hairpin", "on")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", POD_GATEWAY)
            www = self.dir / pod
            www.mkdir()
            (www / "index.html").write_text(pod + "\n")
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "8080", "-h", str(www)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ commands

    async def run(self, ns: str, *argv: str, timeout: float = 60.0) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec("ip", "netns", "exec", ns, *argv,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        return proc.returncode or 0, out.decode(), err.decode()

    async def iptables_save(self) -> str:
        rc, out, err = await self.run(self.node, "iptables-save")
        assert rc == 0, err
        return out

    async def requests(self, ns: str, host: str, port: int, n: int) -> Result:
        """`n` HTTP GETs, each on a new connection, from namespace `ns`."""
        rc, out, err = await self.run(ns, "python3", "-c", CLIENT, host, str(port), str(n), "", timeout=120)
        assert rc == 0, err
        return Result(json.loads(out))

    async def start_loop(self, ns: str, host: str, port: int, stop_file: Path) -> LoopClient:
        """A client sending requests back to back until `stop_file` exists."""
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, "python3", "-c", CLIENT, host, str(port), "0", str(stop_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return LoopClient(proc, stop_file)

    async def ready(self, health_port: int) -> bool:
        rc, out, _ = await self.run(self.node, "busybox", "wget", "-q", "-O", "-",
                                    f"http://127.0.0.1:{health_port}/readyz", timeout=10)
        return rc == 0 and out.strip() == "ok"


class Result:
    def __init__(self, data: dict[str, object]) -> None:
        self.bodies: dict[str, int] = data["bodies"]  # type: ignore[assignment]
        self.errors: list[str] = data["errors"]  # type: ignore[assignment]

    @property
    def total(self) -> int:
        return sum(self.bodies.values())

    def __repr__(self) -> str:
        return f"Result(bodies={self.bodies}, errors={self.errors[:5]}{'...' if len(self.errors) > 5 else ''})"


class LoopClient:
    """Reads the loop client's one-line-per-request output as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process, stop_file: Path) -> None:
        self.proc = proc
        self.stop_file = stop_file
        self.result = Result({"bodies": {}, "errors": []})
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            kind, _, text = raw.decode().strip().partition(" ")
            if kind == "ok":
                self.result.bodies[text] = self.result.bodies.get(text, 0) + 1
            elif kind == "err":
                self.result.errors.append(text)

    async def wait_more(self, n: int, timeout: float = 30.0) -> None:
        """Wait until `n` more requests have been answered (or failed)."""
        target = self.result.total + len(self.result.errors) + n

        async def done() -> bool:
            return self.result.total + len(self.result.errors) >= target
        await wait_until(done, f"{n} more client requests", timeout, interval=0.02)

    async def finish(self) -> Result:
        self.stop_file.write_text("stop")
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._reader
        return self.result


CLIENT = r"""
import json, os, socket, sys, time
host, port, n, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = {"bodies": {}, "errors": []}
i = 0
while (i < n) if n else not os.path.exists(stop):
    i += 1
    t = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: svc\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        body = data.partition(b"\r\n\r\n")[2].decode().strip()
        if not body:
            raise OSError("empty answer")
        out["bodies"][body] = out["bodies"].get(body, 0) + 1
        if not n:
            print("ok", body, flush=True)
    except OSError as e:
        out["errors"].append(f"{type(e).__name__}: {e} after {time.monotonic() - t:.3f}s")
        if not n:
            print("err", out["errors"][-1], flush=True)
    if not n:
        time.sleep(0.005)
if n:
    print(json.dumps(out))
"""


class ApiForwarder:
    """Unix socket -> apiserver TCP address, so a process in another network namespace can reach it."""

    def __init__(self, target: str, path: Path) -> None:
        self.host, _, port = target.rpartition(":")
        self.port = int(port)
        self.path = path
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"unix:{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            writer.close()
            up_writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def wait_until(check: object, what: str, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll an async predicate until it is true (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
