"""How members reach each other: the transport interface, its wire codec, an in-memory network.

Why an interface: the node layer only needs "send these Raft messages, best
effort" plus a few leader-only lease calls, so the same `KVNode` runs over gRPC
in production (`kvstore.peer.PeerTransport`) and over an in-process network in
tests, where partitions and dead members are a flag instead of a process kill.

Sending never blocks and never fails: Raft retransmits whatever is lost, so a
full queue or an unreachable peer just drops messages (and the node is told, so
the leader backs off to probing that peer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from kubelite.pb.etcd import rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2
from kvstore.raft.types import ConfState, Entry, EntryType, Message, MsgType, Snapshot, SnapshotMeta


class TransportHandler(Protocol):
    """What a transport delivers to its member (implemented by KVNode)."""

    def receive(self, messages: list[Message]) -> None: ...

    def report_unreachable(self, peer: int) -> None: ...

    def report_snapshot(self, peer: int, failed: bool) -> None: ...

    def members_response(self) -> raftpb_pb2.MembersResponse: ...

    def leader_keep_alive(self, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse: ...

    def leader_time_to_live(self, req: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse: ...


class PeerUnavailable(Exception):
    """A call to another member failed (down, partitioned, not serving yet)."""


class Transport(Protocol):
    """Best-effort message delivery between members plus a few request/response calls."""

    def start(self, member_id: int, cluster_id: int, handler: TransportHandler) -> None: ...

    def set_peers(self, peers: dict[int, str]) -> None:
        """The other members and their peer URLs (replaces the previous set)."""
        ...

    def send(self, messages: Sequence[Message], at_once: bool = True) -> None:
        """Queue `messages`; with `at_once`, write them now, else when the loop next runs the
        callbacks scheduled so far (after the wake-ups of the requests just answered)."""
        ...

    async def keep_alive(self, to: int, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse: ...

    async def time_to_live(
        self, to: int, req: rpc_pb2.LeaseTimeToLiveRequest,
    ) -> rpc_pb2.LeaseTimeToLiveResponse: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------------- codec


def entry_to_pb(e: Entry) -> raftpb_pb2.Entry:
    return raftpb_pb2.Entry(term=e.term, index=e.index, type=int(e.type), data=e.data)


def snapshot_to_pb(s: Snapshot) -> raftpb_pb2.Snapshot:
    m = s.meta
    return raftpb_pb2.Snapshot(index=m.index, term=m.term, voters=list(m.conf_state.voters), data=s.data)


def snapshot_from_pb(p: raftpb_pb2.Snapshot) -> Snapshot:
    return Snapshot(SnapshotMeta(p.index, p.term, ConfState(tuple(p.voters))), p.data)


def message_to_pb(m: Message) -> raftpb_pb2.Message:
    out = raftpb_pb2.Message(
        type=int(m.type), to=m.to, term=m.term, log_term=m.log_term, index=m.index,
        commit=m.commit, reject=m.reject, reject_hint=m.reject_hint, context=m.context,
    )
    setattr(out, "from", m.frm)
    if m.entries:
        out.entries.extend([entry_to_pb(e) for e in m.entries])
    if m.snapshot is not None:
        out.snapshot.CopyFrom(snapshot_to_pb(m.snapshot))
        out.has_snapshot = True
    return out


_NORMAL, _CONF = EntryType.NORMAL, EntryType.CONF_CHANGE


def message_from_pb(p: raftpb_pb2.Message) -> Message:
    entries = tuple(Entry(e.term, e.index, _CONF if e.type == 1 else _NORMAL, e.data) for e in p.entries)
    return Message(
        MsgType(p.type), p.to, getattr(p, "from"), p.term, p.log_term, p.index, entries, p.commit,
        p.reject, p.reject_hint, snapshot_from_pb(p.snapshot) if p.has_snapshot else None, p.context,
    )


def batch_to_pb(cluster_id: int, frm: int, messages: Sequence[Message]) -> raftpb_pb2.MessageBatch:
    batch = raftpb_pb2.MessageBatch(cluster_id=cluster_id, messages=[message_to_pb(m) for m in messages])
    setattr(batch, "from", frm)
    return batch


# ---------------------------------------------------------------------- in memory


class InMemoryNetwork:
    """Members of one test cluster, wired together inside one event loop.

    `down` members neither send nor receive; `cut(a, b)` drops traffic from a to b
    (one direction, for asymmetric partitions). Messages are delivered on a later
    loop turn, never synchronously, like a real network.
    """

    def __init__(self) -> None:
        self.handlers: dict[int, TransportHandler] = {}
        self.down: set[int] = set()
        self.cuts: set[tuple[int, int]] = set()

    def transport(self) -> InMemoryTransport:
        return InMemoryTransport(self)

    def cut(self, a: int, b: int) -> None:
        self.cuts.add((a, b))

    def heal(self) -> None:
        self.cuts.clear()

    def reachable(self, a: int, b: int) -> bool:
        return a not in self.down and b not in self.down and (a, b) not in self.cuts and b in self.handlers

    def deliver(self, frm: int, to: int, messages: list[Message]) -> None:
        if self.reachable(frm, to):
            self.handlers[to].receive(messages)


class InMemoryTransport:
    """One member's endpoint on an `InMemoryNetwork`."""

    def __init__(self, network: InMemoryNetwork) -> None:
        self.network = network
        self.id = 0
        self._handler: TransportHandler | None = None
        self.sent = 0

    def start(self, member_id: int, cluster_id: int, handler: TransportHandler) -> None:
        self.id = member_id
        self._handler = handler
        self.network.handlers[member_id] = handler

    def set_peers(self, peers: dict[int, str]) -> None:
        pass  # every member of the network is addressable

    def send(self, messages: Sequence[Message], at_once: bool = True) -> None:
        loop = asyncio.get_running_loop()  # delivers in a later round either way
        by_peer: dict[int, list[Message]] = {}
        for m in messages:
            by_peer.setdefault(m.to, []).append(m)
        for to, msgs in by_peer.items():
            self.sent += len(msgs)
            ok = self.network.reachable(self.id, to)
            loop.call_soon(self.network.deliver, self.id, to, msgs)
            handler = self._handler
            if handler is None:
                continue
            for m in msgs:
                if m.type == MsgType.SNAP:
                    loop.call_soon(handler.report_snapshot, to, not ok)
            if not ok:
                loop.call_soon(handler.report_unreachable, to)

    def _peer(self, to: int) -> TransportHandler:
        if not self.network.reachable(self.id, to) or not self.network.reachable(to, self.id):
            raise PeerUnavailable(f"member {to:x} unreachable")
        return self.network.handlers[to]

    async def keep_alive(self, to: int, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse:
        await asyncio.sleep(0)
        return self._peer(to).leader_keep_alive(req)

    async def time_to_live(
        self, to: int, req: rpc_pb2.LeaseTimeToLiveRequest,
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        await asyncio.sleep(0)
        return self._peer(to).leader_time_to_live(req)

    async def close(self) -> None:
        if self.network.handlers.get(self.id) is self._handler:
            del self.network.handlers[self.id]
