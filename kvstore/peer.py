"""gRPC peer transport: Raft messages between kvstore members on the --listen-peer port.

Why one long-lived stream per peer with a send queue: a Ready hands the node
many small messages at once (appends, heartbeats, responses); writing them one
RPC each would cost more than the consensus itself. Each peer gets a sender task
that drains everything queued since its last write into one `MessageBatch`, so
under load one stream write carries many appends/acks. Snapshots go on their own
unary call (they can be megabytes) and their outcome is reported to Raft.

A dead peer costs nothing but a reconnect attempt every `RETRY` seconds; what
was queued for it is dropped (Raft resends) and Raft is told it is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc

from kubelite.pb.etcd import rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2, raftpb_pb2_grpc
from kvstore.raft.types import Message, MsgType
from kvstore.transport import PeerUnavailable, TransportHandler, batch_to_pb, message_from_pb

log = logging.getLogger(__name__)

RETRY = 0.1
MAX_QUEUED = 8192
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
    """The queue and sender task for one remote member."""

    def __init__(self, owner: GrpcTransport, peer_id: int, url: str) -> None:
        self.owner = owner
        self.id = peer_id
        self.url = url
        self.channel = _channel(url_target(url), owner.credentials)
        self.stub = raftpb_pb2_grpc.PeerStub(self.channel)  # type: ignore[no-untyped-call]
        self.queue: list[Message] = []
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"peer-{peer_id:x}")
        self.snap_tasks: set[asyncio.Task[None]] = set()

    def enqueue(self, msg: Message) -> None:
        if msg.type == MsgType.SNAP:
            task = asyncio.create_task(self._send_snapshot(msg))
            self.snap_tasks.add(task)
            task.add_done_callback(self.snap_tasks.discard)
            return
        if len(self.queue) >= MAX_QUEUED:
            self.owner.handler.report_unreachable(self.id)
            return  # dropped: Raft retransmits
        self.queue.append(msg)
        self.wake.set()

    async def _run(self) -> None:
        """Write queued messages to one stream; on any failure drop the queue, report, reconnect.

        Explicit writes (not a request iterator): a failed call must not leave a
        consumer behind that keeps taking messages off the queue.
        """
        while True:
            call = self.stub.Stream()
            try:
                while True:
                    if not self.queue:
                        self.wake.clear()
                        await self.wake.wait()
                        continue
                    msgs, self.queue = self.queue, []
                    await call.write(batch_to_pb(self.owner.cluster_id, self.owner.member_id, msgs))
            except asyncio.CancelledError:
                call.cancel()
                raise
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "finished"
                log.debug("peer stream broke", extra={"peer": f"{self.id:x}", "error": code})
            except Exception:
                log.exception("peer stream failed", extra={"peer": f"{self.id:x}"})
            call.cancel()
            self.queue.clear()
            self.owner.handler.report_unreachable(self.id)
            await asyncio.sleep(RETRY)

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
        self.task.cancel()
        for t in list(self.snap_tasks):
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        await self.channel.close(None)


class GrpcTransport:
    """The production transport (see module doc). Serve it with `add_peer_service`.

    With `credentials` every peer connection is TLS and shows this member's peer
    certificate; the receiving member's server requires one of its peer CA.
    """

    def __init__(self, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.credentials = credentials
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

    def send(self, messages: Sequence[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is not None:
                peer.enqueue(m)
            elif self._handler is not None:
                self._handler.report_unreachable(m.to)

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
    """The receiving side: decode batches and hand them to the member."""

    def __init__(self, handler: TransportHandler, cluster_id: Callable[[], int]) -> None:
        self._handler = handler
        self._cluster_id = cluster_id

    def _accept(self, batch: raftpb_pb2.MessageBatch) -> None:
        mine = self._cluster_id()
        if batch.cluster_id and mine and batch.cluster_id != mine:
            log.warning("dropping messages of another cluster", extra={
                "cluster_id": f"{batch.cluster_id:x}", "from": f"{getattr(batch, 'from'):x}"})
            return
        self._handler.receive([message_from_pb(m) for m in batch.messages])

    async def Stream(
        self, request_iterator: AsyncIterator[raftpb_pb2.MessageBatch], context: Ctx,
    ) -> raftpb_pb2.StreamAck:
        async for batch in request_iterator:
            self._accept(batch)
        return raftpb_pb2.StreamAck()

    async def SendSnapshot(self, request: raftpb_pb2.MessageBatch, context: Ctx) -> raftpb_pb2.StreamAck:
        self._accept(request)
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
    raftpb_pb2_grpc.add_PeerServicer_to_server(PeerService(handler, cluster_id), server)  # type: ignore[no-untyped-call]


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
