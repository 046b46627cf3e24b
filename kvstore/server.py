"""`KVStore`: a kvstore member serving the etcd v3 gRPC API, in-process or as a daemon.

Why a class with start/stop: the apiserver's tests and fixtures run a real
kvstore inside the test's event loop (no subprocess), and `kubelite kvstore`
wraps the very same object, so both paths exercise identical code::

    kv = KVStore(data_dir, listen_client="127.0.0.1:0", name="kv-1")
    await kv.start(); kv.client_port; kv.endpoint  # "127.0.0.1:PORT"
    await kv.stop()
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import grpc

from kvstore.leases import Clock
from kvstore.node import MAX_REQUEST_BYTES, KVNode
from kvstore.service import add_services

log = logging.getLogger(__name__)

_GRPC_OVERHEAD = 512 * 1024


def split_host_port(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class KVStore:
    """One kvstore member: WAL-backed MVCC store + etcd v3 gRPC server."""

    def __init__(
        self,
        data_dir: Path,
        listen_client: str = "127.0.0.1:0",
        name: str = "kv-1",
        *,
        snapshot_entries: int = 10_000,
        progress_interval: float = 10.0,
        auto_compaction_retention: float = 0.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.listen_client = listen_client
        self.name = name
        self._host, self._port = split_host_port(listen_client)
        self.node = KVNode(
            self.data_dir, name, snapshot_entries=snapshot_entries,
            progress_interval=progress_interval, clock=clock,
            auto_compaction_retention=auto_compaction_retention,
        )
        self._server: grpc.aio.Server | None = None

    @property
    def client_port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::", "") else self._host
        return f"{host}:{self._port}"

    @property
    def ready(self) -> bool:
        """True once the WAL is replayed and the gRPC server accepts requests."""
        return self._server is not None and self.node.ready

    def client_urls(self) -> list[str]:
        return [f"http://{self.endpoint}"]

    async def start(self) -> None:
        """Replay the log, then listen. Raises WalCorruptError on damaged acknowledged data."""
        await self.node.open()
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES + _GRPC_OVERHEAD),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
        ])
        add_services(server, self.node, self.client_urls)
        bind = f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"
        try:
            port = server.add_insecure_port(bind)
        except RuntimeError:  # grpc reports a taken/invalid address this way
            port = 0
        if port == 0:
            await server.stop(None)
            await self.node.close()
            raise OSError(f"kvstore: cannot listen on {self.listen_client}")
        self._port = port
        await server.start()
        self._server = server
        log.info("kvstore serving", extra={"endpoint": self.endpoint, "member": self.name})

    async def stop(self, grace: float = 1.0) -> None:
        """Stop accepting requests, end watch streams, flush the WAL, close."""
        server, self._server = self._server, None
        self.node.hub.close_all()
        if server is not None:
            await server.stop(grace)
        await self.node.close()
        log.info("kvstore stopped", extra={"member": self.name})
