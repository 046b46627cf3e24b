"""The kvstore members' transport: Raft messages on the Raft stream, the rest on the gRPC peer service.

Raft messages (appends, heartbeats, votes, their answers) are most of the
traffic and go on one plain asyncio stream per peer (`kvstore.raftstream`: its
module doc says why and where it listens). Three rarer things stay gRPC calls
on the --listen-peer port, which this module serves and dials: snapshots
(`SendSnapshot`, possibly megabytes, their outcome reported to Raft), lease
keep-alive/time-to-live forwarded to the leader, and the member table a joining
member asks for (`Members`).

A dead peer costs nothing but a reconnect attempt with a bounded back-off; what
was queued for it is dropped (Raft resends) and Raft is told it is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc

from kubelite.daemon.grpcregister import add_service
from kubelite.pb.etcd import rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2, raftpb_pb2_grpc
from kvstore.peertls import PeerTLS
from kvstore.raft.types import Message, MsgType
from kvstore.raftstream import PeerLink, accept_batch
from kvstore.transport import PeerUnavailable, TransportHandler, batch_to_pb

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]


_default_credentials: grpc.ChannelCredentials | None = None


def set_default_peer_credentials(credentials: grpc.ChannelCredentials | None) -> None:
    """The peer credentials `fetch_members` uses when not given any (set by the member at start).

    Why process-wide: the member-table lookup of a joining member happens while
    its state is recovered, before the member's transport exists; a daemon runs
    exactly one member, so its peer identity is the process's.
    """
    global _default_credentials
    _default_credentials = credentials


def _channel(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


def url_target(url: str) -> str:
    """`http://host:port` -> `host:port` (what a gRPC channel dials)."""
    parts = urlsplit(url if "//" in url else f"http://{url}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"peer URL {url!r} needs a host and a port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


class _Peer:
    """Everything this member keeps for one remote member: its Raft link and a gRPC channel."""

    def __init__(self, owner: PeerTransport, peer_id: int, url: str) -> None:
        self.owner = owner
        self.id = peer_id
        self.url = url
        self.link = PeerLink(f"{peer_id:x}", url, self._encode, self._unreachable, owner.ssl_context)
        self.channel = _channel(url_target(url), owner.credentials)
        self.stub = raftpb_pb2_grpc.PeerStub(self.channel)  # type: ignore[no-untyped-call]
        self.snap_tasks: set[asyncio.Task[None]] = set()

    def _encode(self, msgs: Sequence[Message]) -> raftpb_pb2.MessageBatch:
        return batch_to_pb(self.owner.cluster_id, self.owner.member_id, msgs)

    def _unreachable(self) -> None:
        self.owner.handler.report_unreachable(self.id)

    def enqueue(self, msg: Message) -> None:
        if msg.type == MsgType.SNAP:
            task = asyncio.create_task(self._send_snapshot(msg))
            self.snap_tasks.add(task)
            task.add_done_callback(self.snap_tasks.discard)
            return
        self.link.send(msg)

    async def _send_snapshot(self, msg: Message) -> None:
        failed = True
        try:
            batch = batch_to_pb(self.owner.cluster_id, self.owner.member_id, [msg])
            await self.stub.SendSnapshot(batch, timeout=120)
            failed = False
        except grpc.aio.AioRpcError as exc:
            log.warning("sending snapshot failed", extra={"peer": f"{self.id:x}", "error": exc.code().name})
        finally:
            self.owner.handler.report_snapshot(self.id, failed)

    async def close(self) -> None:
        for t in list(self.snap_tasks):
            t.cancel()
        await self.link.close()
        await self.channel.close(None)


class PeerTransport:
    """The production transport (see module doc). Serve it with `add_peer_service` and a `RaftListener`.

    With `tls` every peer connection (gRPC and Raft stream) is TLS and shows this
    member's peer certificate; the receiving member requires one of its peer CA.
    """

    def __init__(self, tls: PeerTLS | None = None) -> None:
        self.credentials = tls.channel_credentials if tls is not None else None
        self.ssl_context = tls.client_context if tls is not None else None
        self.member_id = 0
        self.cluster_id = 0
        self._handler: TransportHandler | None = None
        self._peers: dict[int, _Peer] = {}

    @property
    def handler(self) -> TransportHandler:
        assert self._handler is not None
        return self._handler

    def start(self, member_id: int, cluster_id: int, handler: TransportHandler) -> None:
        self.member_id, self.cluster_id, self._handler = member_id, cluster_id, handler

    def set_peers(self, peers: dict[int, str]) -> None:
        for pid in list(self._peers):
            if pid not in peers or self._peers[pid].url != peers[pid]:
                old = self._peers.pop(pid)
                asyncio.get_running_loop().create_task(old.close())
        for pid, url in peers.items():
            if pid != self.member_id and pid not in self._peers:
                try:
                    self._peers[pid] = _Peer(self, pid, url)
                except ValueError as exc:
                    log.error("bad peer URL", extra={"peer": f"{pid:x}", "error": str(exc)})

    def send(self, messages: Sequence[Message], at_once: bool = True) -> None:
        """Queue each message on its peer's link, then write each link's share as one frame now
        (the member sends a Ready's messages in one call: one write per peer per Ready), or, not
        `at_once`, in the link's flush callback, scheduled behind what is scheduled already."""
        touched: list[PeerLink] = []
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is not None:
                peer.enqueue(m)
                if peer.link not in touched:
                    touched.append(peer.link)
            elif self._handler is not None:
                self._handler.report_unreachable(m.to)
        if at_once:
            for link in touched:
                link.flush()

    def _stub(self, to: int) -> raftpb_pb2_grpc.PeerStub:
        peer = self._peers.get(to)
        if peer is None:
            raise PeerUnavailable(f"member {to:x} is not a known peer")
        return peer.stub

    async def keep_alive(self, to: int, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse:
        try:
            resp: rpc_pb2.LeaseKeepAliveResponse = await self._stub(to).LeaseKeepAlive(req, timeout=3)
        except grpc.aio.AioRpcError as exc:
            raise PeerUnavailable(f"member {to:x}: {exc.details()}") from None
        return resp

    async def time_to_live(
        self, to: int, req: rpc_pb2.LeaseTimeToLiveRequest,
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        try:
            resp: rpc_pb2.LeaseTimeToLiveResponse = await self._stub(to).LeaseTimeToLive(req, timeout=3)
        except grpc.aio.AioRpcError as exc:
            raise PeerUnavailable(f"member {to:x}: {exc.details()}") from None
        return resp

    async def close(self) -> None:
        peers, self._peers = list(self._peers.values()), {}
        await asyncio.gather(*(p.close() for p in peers))


Ctx = grpc.aio.ServicerContext[Any, Any]


class PeerService(raftpb_pb2_grpc.PeerServicer):
    """The gRPC side of a member's peer port: snapshots, the member table, leases the leader answers."""

    def __init__(self, handler: TransportHandler, cluster_id: Callable[[], int]) -> None:
        self._handler = handler
        self._cluster_id = cluster_id

    async def SendSnapshot(self, request: raftpb_pb2.MessageBatch, context: Ctx) -> raftpb_pb2.StreamAck:
        accept_batch(self._handler, self._cluster_id(), request)
        return raftpb_pb2.StreamAck()

    async def Members(self, request: raftpb_pb2.MembersRequest, context: Ctx) -> raftpb_pb2.MembersResponse:
        return self._handler.members_response()

    async def LeaseKeepAlive(
        self, request: rpc_pb2.LeaseKeepAliveRequest, context: Ctx,
    ) -> rpc_pb2.LeaseKeepAliveResponse:
        return self._handler.leader_keep_alive(request)

    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Ctx,
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        return self._handler.leader_time_to_live(request)


def add_peer_service(server: grpc.aio.Server, handler: TransportHandler, cluster_id: Callable[[], int]) -> None:
    add_service(raftpb_pb2_grpc.add_PeerServicer_to_server, PeerService(handler, cluster_id), server)


async def fetch_members(urls: list[str], timeout: float = 5.0,
                        credentials: grpc.ChannelCredentials | None = None) -> raftpb_pb2.MembersResponse:
    """Ask the first answering member for the cluster's id and members (joining a running cluster)."""
    errors: list[str] = []
    credentials = credentials or _default_credentials
    for url in urls:
        try:
            async with _channel(url_target(url), credentials) as ch:
                stub = raftpb_pb2_grpc.PeerStub(ch)  # type: ignore[no-untyped-call]
                resp: raftpb_pb2.MembersResponse = await stub.Members(raftpb_pb2.MembersRequest(), timeout=timeout)
                return resp
        except (grpc.aio.AioRpcError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    raise PeerUnavailable("no member answered: " + "; ".join(errors))
