"""Raft messages between kvstore members: length-prefixed `MessageBatch`es on a plain asyncio (TLS) stream.

Why not the gRPC peer stream any more: a message written to a grpc.aio stream
cost ~190 us of CPU and ~150 us to read (Cython plus a poller-thread wake-up per
write), against ~85/60 us on an asyncio socket; on followers that was a quarter
to a third of all samples and most of an idle cluster's kvstore CPU. Snapshots,
lease forwarding and the member table stay on the gRPC peer service
(`kvstore.peer`): they are rare, and a snapshot can be megabytes.

Where the stream listens: on the member's peer port + `RAFT_PORT_OFFSET` (2), on
the same host. Every member knows every other member's peer URL (the
`--initial-cluster` / member table), so the Raft address is derived from it and
needs no new flag, no new field in the member table and no discovery:
`https://10.0.0.1:2380` -> `10.0.0.1:2382`. Why +2: `kubelite up` gives member i
the ports b (client), b+1 (peer), b+2 (health) with b = 2379 + offset + 10(i-1),
so b+3 = peer+2 is unused by every layout it plans (and etcd's conventional
2379/2380/2381 leave 2382 free too); --port-offset shifts it like the others.

Wire format: each frame is a 4-byte big-endian length and that many bytes of a
serialized `kubelite.raft.MessageBatch` (the protobuf the gRPC stream carried).
A frame above `MAX_FRAME`, bytes that do not parse, or a batch of another
cluster close that connection with a log line; the member goes on (the sender
reconnects and Raft resends).

Security is the peer port's: with peer TLS the listener uses the same peer
certificate and, with --peer-client-cert-auth, requires a client certificate
signed by the peer CA; a member dialing verifies the listener's certificate
against the peer CA and the URL's host and presents its own peer certificate
(`kvstore.peertls`).

Sending: one outgoing connection per peer. `PeerLink.send` only appends to a
list; the first message of a loop turn schedules one flush for the next turn,
which writes everything queued as one frame -- one `write` per peer per turn,
no task per message. The member's transport does not wait for that round of the
loop: it hands over each Ready's messages at once and `flush`es them there and
then (`PeerTransport.send`), as a waiting round was a wake-up of its own on every
turn of a follower. While the connection is down messages queue (bounded) and
leave once it is up; a failed or lost connection drops the queue, tells Raft
the peer is unreachable, and is retried with a back-off doubling from
`RETRY_MIN` to `RETRY_MAX`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from typing import cast
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError

from kubelite.pb.kubelite import raftpb_pb2
from kvstore.raft.types import Message
from kvstore.transport import TransportHandler, message_from_pb

log = logging.getLogger(__name__)

RAFT_PORT_OFFSET = 2
MAX_FRAME = 64 * 1024 * 1024
MAX_QUEUED = 8192
MAX_BUFFERED = 32 * 1024 * 1024
RETRY_MIN = 0.05
RETRY_MAX = 1.0
CONNECT_TIMEOUT = 5.0
_HEADER = struct.Struct(">I")
READ_BUFFER = 256 * 1024
"""A connection's receive buffer (what asyncio reads at most at once); grown for a larger frame."""
MIN_FREE = 64 * 1024
"""Room a read gets at least: pending bytes move to the buffer's front before it has less."""


class FrameError(ValueError):
    """The byte stream is not a sequence of frames this member accepts."""


def raft_port(peer_port: int) -> int:
    """The Raft stream port of a member whose peer (gRPC) port is `peer_port` (see module doc)."""
    return peer_port + RAFT_PORT_OFFSET


def raft_address(peer_url: str) -> tuple[str, int]:
    """`https://10.0.0.1:2380` -> `("10.0.0.1", 2382)`: where that member's Raft stream listens."""
    parts = urlsplit(peer_url if "//" in peer_url else f"http://{peer_url}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"peer URL {peer_url!r} needs a host and a port")
    return parts.hostname, raft_port(parts.port)


def encode_frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Cuts a byte stream into frames; `FrameError` on a frame longer than `max_frame`.

    The socket reads straight into this reader's buffer (`buffer`, then `filled`: asyncio's
    `BufferedProtocol`), which is reused from read to read. Why: a plain `Protocol` gets a
    new bytes object per read, which asyncio allocates at 256 KiB and shrinks -- ~10 us per
    read here, on every message a member receives -- and the frames were then copied
    into a second buffer anyway.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray(READ_BUFFER)
        self._start = 0
        """Where the first byte not yet cut into a frame is."""
        self._end = 0
        """Where the bytes read so far end."""
        self._need = 0
        """Bytes the frame begun at `_start` needs in all (header included); 0 while unknown."""

    def buffer(self) -> memoryview:
        """Where the next read goes: the buffer's free tail, with room for the frame under way."""
        buf, start, end = self._buf, self._start, self._end
        if start == end:
            self._start = self._end = 0
            if len(buf) > READ_BUFFER:
                self._buf = bytearray(READ_BUFFER)  # a large frame is done: give its room back
            return memoryview(self._buf)
        if len(buf) - end < MIN_FREE or start + self._need > len(buf):
            pending = end - start
            size = max(len(buf), pending + MIN_FREE, self._need + MIN_FREE)
            grown = bytearray(size) if size > len(buf) else buf
            grown[:pending] = buf[start:end]
            self._buf, self._start, self._end = grown, 0, pending
        return memoryview(self._buf)[self._end:]

    def filled(self, nbytes: int) -> list[bytes]:
        """`nbytes` were read into the last `buffer()`: the frames now complete, in order."""
        self._end += nbytes
        buf, pos, end = self._buf, self._start, self._end
        frames: list[bytes] = []
        while end - pos >= 4:
            (size,) = _HEADER.unpack_from(buf, pos)
            if size > self.max_frame:
                raise FrameError(f"frame of {size} bytes exceeds the limit of {self.max_frame}")
            stop = pos + 4 + size
            if stop > end:
                self._need = 4 + size
                break
            frames.append(bytes(buf[pos + 4:stop]))
            pos = stop
        else:
            self._need = 0
        self._start = pos
        return frames

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by `data` (the same path, for a caller that holds the bytes)."""
        frames: list[bytes] = []
        view = memoryview(data)
        while view:
            room = self.buffer()
            n = min(len(room), len(view))
            room[:n] = view[:n]
            del room
            frames += self.filled(n)
            view = view[n:]
        return frames


def accept_batch(handler: TransportHandler, mine: int, batch: raftpb_pb2.MessageBatch) -> bool:
    """Hand a received batch to the member; False (nothing delivered) when it is another cluster's.

    `mine` is 0 while this member does not know its cluster yet; a batch without
    a cluster id is from a member that does not either (both accepted, as Raft
    itself rejects messages of unknown members and stale terms).
    """
    if batch.cluster_id and mine and batch.cluster_id != mine:
        log.warning("refusing messages of another cluster", extra={
            "cluster_id": f"{batch.cluster_id:x}", "from": f"{getattr(batch, 'from'):x}"})
        return False
    handler.receive([message_from_pb(m) for m in batch.messages])
    return True


def _keepalive(transport: asyncio.BaseTransport) -> None:
    """Notice a silently dead peer within seconds (a lost host sends no FIN), as gRPC's pings did."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 2), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3),
                            ("TCP_USER_TIMEOUT", 5000)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# ---------------------------------------------------------------------- receiving


class _Inbound(asyncio.BufferedProtocol):
    """One accepted connection: frames in, batches to the member; anything wrong closes it."""

    def __init__(self, listener: RaftListener) -> None:
        self.listener = listener
        self.reader = FrameReader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not necessarily an `asyncio.Transport` subclass (uvloop's are not).
        self.transport = cast(asyncio.Transport, transport)
        self.listener.connections.add(self)
        _keepalive(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)

    def _drop(self, why: str) -> None:
        log.warning("closing a Raft connection", extra={
            "remote": str(self.transport.get_extra_info("peername") if self.transport else ""), "error": why})
        if self.transport is not None:
            self.transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.reader.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            for frame in self.reader.filled(nbytes):
                batch = raftpb_pb2.MessageBatch()
                batch.ParseFromString(frame)
                if not accept_batch(self.listener.handler, self.listener.cluster_id(), batch):
                    self._drop("batch of another cluster")
                    return
        except (FrameError, DecodeError, ValueError) as exc:
            self._drop(f"bad frame: {exc}")
        except Exception as exc:  # never let one connection take the member down
            log.exception("Raft connection failed")
            self._drop(type(exc).__name__)


class RaftListener:
    """The Raft stream server of one member (see module doc)."""

    def __init__(self, handler: TransportHandler, cluster_id: Callable[[], int],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.cluster_id = cluster_id
        self.ssl_context = ssl_context
        self.connections: set[_Inbound] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port; OSError when it cannot be bound (e.g. the port is taken)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Inbound(self), host or None, port, ssl=self.ssl_context,
            ssl_handshake_timeout=10.0 if self.ssl_context is not None else None, reuse_address=True,
        )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await server.wait_closed()


# ---------------------------------------------------------------------- sending


class _Outbound(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        pass  # the listener never answers on this stream


class PeerLink:
    """The outgoing Raft connection to one member: a queue, a coalescing flush, reconnects.

    `encode(messages)` makes the batch (it knows this member's and the cluster's
    ids); `unreachable()` tells Raft the peer lost what was queued.
    """

    def __init__(self, name: str, url: str, encode: Callable[[Sequence[Message]], raftpb_pb2.MessageBatch],
                 unreachable: Callable[[], None], ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.host, self.port = raft_address(url)
        self._encode = encode
        self._unreachable = unreachable
        self._ssl = ssl_context
        self._queue: list[Message] = []
        self._transport: asyncio.Transport | None = None
        self._flush_at: asyncio.Handle | None = None
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"raft-link-{name}")

    def send(self, msg: Message) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._unreachable()
            return  # dropped: Raft retransmits
        self._queue.append(msg)
        if self._flush_at is None and self._transport is not None:
            self._flush_at = self._loop.call_soon(self._flush)

    def flush(self) -> None:
        """Write what is queued now, as one frame, instead of in the next round of the loop."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush()

    def _flush(self) -> None:
        self._flush_at = None
        transport, msgs = self._transport, self._queue
        if transport is None or not msgs or transport.is_closing():
            return
        self._queue = []
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            log.debug("peer not reading; dropping messages", extra={"peer": self.name, "dropped": len(msgs)})
            self._unreachable()
            return
        self._write(transport, msgs)

    def _write(self, transport: asyncio.Transport, msgs: Sequence[Message]) -> None:
        payload = self._encode(msgs).SerializeToString()
        if len(payload) <= MAX_FRAME:
            transport.write(encode_frame(payload))
        elif len(msgs) > 1:
            half = len(msgs) // 2
            self._write(transport, msgs[:half])
            self._write(transport, msgs[half:])
        else:
            log.error("Raft message larger than a frame; dropped", extra={"peer": self.name, "size": len(payload)})
            self._unreachable()

    async def _connect(self) -> tuple[asyncio.Transport, _Outbound]:
        transport, proto = await asyncio.wait_for(self._loop.create_connection(
            _Outbound, self.host, self.port, ssl=self._ssl,
            server_hostname=self.host if self._ssl is not None else None,
            ssl_handshake_timeout=CONNECT_TIMEOUT if self._ssl is not None else None,
        ), CONNECT_TIMEOUT)
        return transport, proto

    def _lost(self) -> None:
        self._transport = None
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        self._queue.clear()
        self._unreachable()

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            try:
                transport, proto = await self._connect()
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                log.debug("Raft connection failed", extra={"peer": self.name, "error": str(exc) or type(exc).__name__})
                self._lost()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            _keepalive(transport)
            since = time.monotonic()
            self._transport = transport
            self._flush()
            try:
                await proto.closed
            finally:
                transport.abort()
            log.debug("Raft connection lost", extra={"peer": self.name})
            self._lost()
            if time.monotonic() - since > RETRY_MAX:
                delay = RETRY_MIN  # it worked for a while: retry soon
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        if self._flush_at is not None:
            self._flush_at.cancel()

