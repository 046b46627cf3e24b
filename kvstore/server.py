"""`KVStore`: a kvstore member serving the etcd v3 gRPC API, in-process or as a daemon.

Why a class with start/stop: the apiserver's tests and fixtures run a real
kvstore inside the test's event loop (no subprocess), and `kubelite kvstore`
wraps the very same object, so both paths exercise identical code::

    kv = KVStore(data_dir, listen_client="127.0.0.1:0", name="kv-1")
    await kv.start(); kv.client_port; kv.endpoint  # "127.0.0.1:PORT"
    await kv.stop()

A member of a replicated cluster also listens on a peer port (gRPC: snapshots,
leases, the member table) and on the Raft stream port next to it (peer port + 2,
see `kvstore.raftstream`)::

    KVStore(d, "127.0.0.1:2379", "kv-1", listen_peer="127.0.0.1:2380",
            initial_cluster="kv-1=http://127.0.0.1:2380,kv-2=http://127.0.0.1:2480,...")
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc

from kubelite.daemon.tls import bind
from kvstore.leases import Clock
from kvstore.membership import DEFAULT_TOKEN, parse_initial_cluster
from kvstore.node import MAX_REQUEST_BYTES, KVNode
from kvstore.peer import SERVER_OPTIONS, PeerTransport, add_peer_service, set_default_peer_credentials
from kvstore.peertls import PeerTLS
from kvstore.raftstream import RaftListener, raft_port
from kvstore.service import add_services
from kvstore.transport import Transport

log = logging.getLogger(__name__)

_GRPC_OVERHEAD = 512 * 1024


def split_host_port(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _bind(server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None) -> int:
    return bind(server, f"[{host}]:{port}" if ":" in host else f"{host}:{port}", credentials)


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


class KVStore:
    """One kvstore member: Raft-replicated MVCC store + etcd v3 gRPC server (+ peer server)."""

    def __init__(
        self,
        data_dir: Path,
        listen_client: str = "127.0.0.1:0",
        name: str = "kv-1",
        *,
        listen_peer: str | None = None,
        initial_cluster: str | None = None,
        initial_cluster_state: str = "new",
        cluster_token: str = DEFAULT_TOKEN,
        transport: Transport | None = None,
        snapshot_entries: int = 10_000,
        snapshot_catchup_entries: int = 5_000,
        progress_interval: float = 10.0,
        auto_compaction_retention: float = 0.0,
        tick_interval: float = 0.1,
        election_ticks: int = 10,
        heartbeat_ticks: int = 1,
        clock: Clock = time.monotonic,
        client_credentials: grpc.ServerCredentials | None = None,
        peer_tls: PeerTLS | None = None,
    ) -> None:
        """`client_credentials`: TLS of the client port (etcd's --cert-file/--key-file, and with
        --client-cert-auth required client certificates); `peer_tls`: TLS of the peer ports and of
        this member's connections to the others (mutual: each side shows a peer certificate)."""
        self.data_dir = Path(data_dir)
        self.client_credentials = client_credentials
        self.peer_tls = peer_tls
        self.listen_client = listen_client
        self.listen_peer = listen_peer
        self.name = name
        self._host, self._port = split_host_port(listen_client)
        self._peer_host, self._peer_port = split_host_port(listen_peer) if listen_peer else ("", 0)
        members = parse_initial_cluster(initial_cluster) if initial_cluster else None
        if transport is None and listen_peer is not None:
            transport = PeerTransport(peer_tls)
        if peer_tls is not None:
            set_default_peer_credentials(peer_tls.channel_credentials)  # for joining: see `fetch_members`
        self.node = KVNode(
            self.data_dir, name, snapshot_entries=snapshot_entries, snapshot_catchup_entries=snapshot_catchup_entries,
            progress_interval=progress_interval, clock=clock, auto_compaction_retention=auto_compaction_retention,
            initial_cluster=members, initial_cluster_state=initial_cluster_state, cluster_token=cluster_token,
            transport=transport, tick_interval=tick_interval, election_ticks=election_ticks,
            heartbeat_ticks=heartbeat_ticks,
        )
        if members is not None:
            mine = [u for n, u in members if n == name]
            self.node.peer_url = mine[0] if mine else ""
        self._server: grpc.aio.Server | None = None
        self._peer_server: grpc.aio.Server | None = None
        self._raft_listener: RaftListener | None = None

    @property
    def client_port(self) -> int:
        return self._port

    @property
    def peer_port(self) -> int:
        return self._peer_port

    @property
    def endpoint(self) -> str:
        return f"{_connectable(self._host)}:{self._port}"

    @property
    def ready(self) -> bool:
        """True once the WAL is replayed and the gRPC server accepts requests."""
        return self._server is not None and self.node.ready

    def client_urls(self) -> list[str]:
        return [f"{'https' if self.client_credentials is not None else 'http'}://{self.endpoint}"]

    def _cluster_id(self) -> int:
        return self.node.identity.cluster_id

    async def start(self) -> None:
        """Listen, replay the log, serve. Raises WalCorruptError on damaged acknowledged data."""
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES + _GRPC_OVERHEAD),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
        ])
        add_services(server, self.node)
        port = _bind(server, self._host, self._port, self.client_credentials)
        if port == 0:
            await server.stop(None)
            raise OSError(f"kvstore: cannot listen on {self.listen_client}")
        self._port = port
        peer_server: grpc.aio.Server | None = None
        raft: RaftListener | None = None
        if self.listen_peer is not None:
            tls = self.peer_tls
            peer_server = grpc.aio.server(options=SERVER_OPTIONS)
            add_peer_service(peer_server, self.node, self._cluster_id)
            pport = _bind(peer_server, self._peer_host, self._peer_port,
                          tls.server_credentials if tls is not None else None)
            raft = RaftListener(self.node, self._cluster_id, tls.server_context if tls is not None else None)
            try:
                if pport == 0:
                    raise OSError(f"kvstore: cannot listen on peer address {self.listen_peer}")
                await raft.start(self._peer_host, raft_port(pport))
            except OSError as exc:
                await server.stop(None)
                await peer_server.stop(None)
                raise OSError(f"kvstore: cannot listen for Raft on port {raft_port(pport)} (peer port + 2): "
                              f"{exc.strerror or exc}") if pport else exc from None
            self._peer_port = pport
            if not self.node.peer_url:
                scheme = "https" if tls is not None else "http"
                self.node.peer_url = f"{scheme}://{_connectable(self._peer_host)}:{pport}"
        self.node.client_urls = self.client_urls()
        try:
            if peer_server is not None:
                await peer_server.start()  # peers may need us before our own replay finishes
            await self.node.open()
        except BaseException:
            await server.stop(None)
            if peer_server is not None:
                await peer_server.stop(None)
            if raft is not None:
                await raft.close()
            await self.node.close()
            raise
        await server.start()
        self._server = server
        self._peer_server = peer_server
        self._raft_listener = raft
        log.info("kvstore serving", extra={
            "endpoint": self.endpoint, "member": self.name, "member_id": f"{self.node.identity.member_id:x}",
            "peer": self.node.peer_url,
        })

    async def serve_until(self, stop: asyncio.Event) -> str:
        """Serve until `stop` is set ("stopped"), this member is removed from the cluster
        ("removed") or its Raft loop broke ("broken"); the reason, for the process's exit."""
        ends = {"stopped": stop, "removed": self.node.removed, "broken": self.node.broken}
        waits = {asyncio.create_task(event.wait()): reason for reason, event in ends.items()}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return next(reason for task, reason in waits.items() if task in done)

    async def stop(self, grace: float = 1.0) -> None:
        """Stop accepting requests, end watch streams, stop Raft, close the WAL."""
        server, self._server = self._server, None
        peer_server, self._peer_server = self._peer_server, None
        self.node.hub.close_all()
        if server is not None:
            await server.stop(grace)
        await self.node.close()
        if peer_server is not None:
            await peer_server.stop(0.2)
        raft, self._raft_listener = self._raft_listener, None
        if raft is not None:
            await raft.close()
        log.info("kvstore stopped", extra={"member": self.name})
