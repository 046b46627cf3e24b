"""`kubelite apiserver` as a real process: readiness follows the store, data survives
kill -9 of the apiserver, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from kubelite.api import ConfigMap, ObjectMeta
from kubelite.client import ApiClient
from kubelite.procs import http_get_status
from kvstore.server import KVStore

REPO = Path(__file__).resolve().parents[3]


async def http_get_body(hostport: str, path: str) -> str:
    host, _, port = hostport.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data.decode().partition("\r\n\r\n")[2]


class ApiProcess:
    def __init__(self, etcd: str, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self._offset = log.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubelite.main", "apiserver", "--etcd-servers", etcd,
             "--listen", "127.0.0.1:0", "--listen-health", "127.0.0.1:0", "--log-level", "info"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._out,
        )
        self.server = self.health = ""

    async def wait_listening(self, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (self.server and self.health):
            with self.log.open("rb") as fh:
                fh.seek(self._offset)
                for line in fh.read().splitlines():
                    entry = json.loads(line)
                    if entry.get("msg") == "apiserver listening":
                        self.server = entry["addr"]
                    elif entry.get("msg") == "health endpoint listening":
                        self.health = entry["addr"]
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert asyncio.get_running_loop().time() < deadline, "apiserver did not start listening"
            await asyncio.sleep(0.02)

    async def wait_ready(self, want: int = 200, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while await http_get_status(self.health, "/readyz") != want:
            assert asyncio.get_running_loop().time() < deadline, f"/readyz never answered {want}"
            await asyncio.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(20)
        self._out.close()
        return rc


async def test_daemon_readiness_restart_and_graceful_stop(tmp_path: Path) -> None:
    kv = KVStore(tmp_path / "kv")
    await kv.start()
    port = kv.client_port
    api = ApiProcess(kv.endpoint, tmp_path / "api.log")
    api2: ApiProcess | None = None
    try:
        await api.wait_listening()
        await api.wait_ready()
        async with ApiClient.connect(api.server) as client:
            await client.create(ConfigMap(metadata=ObjectMeta(name="kept", namespace="default"), data={"a": "1"}))
        metrics = await http_get_body(api.health, "/metrics")
        assert 'apiserver_requests_total{code="OK",resource="configmaps",verb="Create"} 1.0' in metrics

        await kv.stop()
        await api.wait_ready(503)
        kv = KVStore(tmp_path / "kv", listen_client=f"127.0.0.1:{port}")
        await kv.start()
        await api.wait_ready(200)

        assert api.stop(signal.SIGKILL) == -signal.SIGKILL
        api2 = ApiProcess(kv.endpoint, tmp_path / "api.log")
        await api2.wait_listening()
        await api2.wait_ready()
        async with ApiClient.connect(api2.server) as client:
            assert (await client.get(ConfigMap, "kept")).data == {"a": "1"}
        assert api2.stop(signal.SIGTERM) == 0
    finally:
        for p in (api, api2):
            if p is not None and p.proc.poll() is None:
                p.stop(signal.SIGKILL)
        await kv.stop()
