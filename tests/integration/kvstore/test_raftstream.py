"""The Raft stream between members over real loopback sockets and the cluster's real peer certificates:
what arrives, who may connect, and that a bad peer only loses its own connection."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubelite.pb.kubelite import raftpb_pb2
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from kvstore.peertls import PeerTLS, load_peer_tls
from kvstore.raft.types import Message, MsgType
from kvstore.raftstream import PeerLink, RaftListener, encode_frame, raft_port
from kvstore.transport import batch_to_pb
from tests.integration.kvstore.kvproc import free_peer_port

pytestmark = pytest.mark.integration

CLUSTER = 0xC1


@dataclass
class Member:
    """What a member's transport hands over, recorded (the TransportHandler side)."""

    batches: list[list[Message]] = field(default_factory=list)
    unreachable: int = 0

    def receive(self, messages: list[Message]) -> None:
        self.batches.append(messages)

    def report_unreachable(self, peer: int) -> None:
        self.unreachable += 1

    def report_snapshot(self, peer: int, failed: bool) -> None:
        raise AssertionError("snapshots do not travel on the Raft stream")

    def members_response(self) -> raftpb_pb2.MembersResponse:
        raise AssertionError("not a Raft stream call")

    leader_keep_alive = leader_time_to_live = members_response  # type: ignore[assignment]

    @property
    def received(self) -> list[Message]:
        return [m for b in self.batches for m in b]


async def until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def tls(certs: Path) -> PeerTLS:
    peer = "etcd/peer"
    return load_peer_tls(cert_path(certs, peer), key_path(certs, peer), cert_path(certs, pki.KVSTORE_CA), True)


@dataclass
class Listening:
    member: Member
    listener: RaftListener
    url: str


@pytest.fixture
async def listening(tls: PeerTLS) -> AsyncIterator[Listening]:
    member = Member()
    listener = RaftListener(member, lambda: CLUSTER, tls.server_context)
    port = free_peer_port()
    await listener.start("127.0.0.1", raft_port(port))
    try:
        yield Listening(member, listener, f"https://127.0.0.1:{port}")
    finally:
        await listener.close()


def link(url: str, sender: Member, context: ssl.SSLContext | None, cluster: int = CLUSTER) -> PeerLink:
    def encode(msgs: Sequence[Message]) -> raftpb_pb2.MessageBatch:
        return batch_to_pb(cluster, 1, msgs)
    return PeerLink("2", url, encode, lambda: sender.report_unreachable(2), context)


def heartbeat(term: int) -> Message:
    return Message(MsgType.HEARTBEAT, to=2, frm=1, term=term, commit=term)


async def test_messages_of_one_loop_turn_arrive_in_order_as_one_batch(listening: Listening, tls: PeerTLS) -> None:
    sender = Member()
    out = link(listening.url, sender, tls.client_context)
    try:
        out.send(heartbeat(1))
        await until(lambda: listening.member.received, "the first message")
        for term in range(2, 202):  # one loop turn: one write, one frame
            out.send(heartbeat(term))
        await until(lambda: len(listening.member.received) == 201, "all messages")
        assert [m.term for m in listening.member.received] == list(range(1, 202))
        assert len(listening.member.batches) == 2
        assert listening.member.received[-1] == heartbeat(201)
        assert sender.unreachable == 0
    finally:
        await out.close()


async def test_a_peer_that_is_down_is_reported_and_reached_once_it_listens(tls: PeerTLS) -> None:
    member, sender = Member(), Member()
    port = free_peer_port()
    out = link(f"https://127.0.0.1:{port}", sender, tls.client_context)
    listener = RaftListener(member, lambda: CLUSTER, tls.server_context)
    try:
        out.send(heartbeat(1))
        await until(lambda: sender.unreachable >= 2, "unreachable reports while the peer is down")
        await listener.start("127.0.0.1", raft_port(port))
        await until(lambda: not out._queue and out._transport is not None, "the reconnect")  # noqa: SLF001
        out.send(heartbeat(2))
        await until(lambda: member.received, "a message after the reconnect")
        assert [m.term for m in member.received] == [2]  # what was queued while down was dropped
        await listener.close()  # the peer goes away again: reported once more
        reports = sender.unreachable
        await until(lambda: sender.unreachable > reports, "an unreachable report for the lost connection")
    finally:
        await out.close()
        await listener.close()


@pytest.mark.parametrize("who", ["no certificate", "a cluster-CA certificate"])
async def test_only_a_peer_certificate_of_the_kvstore_ca_may_connect(
        listening: Listening, tls: PeerTLS, certs: Path, who: str) -> None:
    context = ssl.create_default_context(cafile=str(cert_path(certs, pki.KVSTORE_CA)))
    if who == "a cluster-CA certificate":  # the admin's: valid in the cluster, not a kvstore member
        context.load_cert_chain(cert_path(certs, "admin"), key_path(certs, "admin"))
    intruder = Member()
    out = link(listening.url, intruder, context)
    try:
        for _ in range(3):
            out.send(heartbeat(9))
            await until(lambda: intruder.unreachable > 0, "the refusal")
            intruder.unreachable = 0
        assert listening.member.received == []
    finally:
        await out.close()
    good = link(listening.url, Member(), tls.client_context)  # the member itself is unharmed
    try:
        good.send(heartbeat(1))
        await until(lambda: listening.member.received, "a member's message")
    finally:
        await good.close()


async def test_a_member_does_not_dial_a_listener_without_a_kvstore_certificate(
        tls: PeerTLS, certs: Path) -> None:
    impostor = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    impostor.load_cert_chain(cert_path(certs, "apiserver"), key_path(certs, "apiserver"))  # cluster CA
    member, sender = Member(), Member()
    listener = RaftListener(member, lambda: CLUSTER, impostor)
    port = free_peer_port()
    await listener.start("127.0.0.1", raft_port(port))
    out = link(f"https://127.0.0.1:{port}", sender, tls.client_context)
    try:
        out.send(heartbeat(1))
        await until(lambda: sender.unreachable >= 2, "refused handshakes")
        assert member.received == []
    finally:
        await out.close()
        await listener.close()


async def raw_connection(url: str, tls: PeerTLS) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(url.rpartition(":")[2])
    return await asyncio.open_connection("127.0.0.1", raft_port(port), ssl=tls.client_context,
                                         server_hostname="127.0.0.1")


@pytest.mark.parametrize("bad", ["garbage", "oversize", "another cluster"])
async def test_a_bad_frame_closes_only_that_connection(
        listening: Listening, tls: PeerTLS, bad: str, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await raw_connection(listening.url, tls)
    if bad == "garbage":
        data = encode_frame(b"\xff\xff\xff\xff not a protobuf")
    elif bad == "oversize":
        data = (2**31).to_bytes(4, "big")
    else:
        data = encode_frame(batch_to_pb(0xBAD, 1, [heartbeat(5)]).SerializeToString())
    with caplog.at_level(logging.WARNING, logger="kvstore.raftstream"):
        writer.write(data)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the member closed it
    writer.close()
    assert listening.member.received == []
    assert any(r.getMessage() in ("closing a Raft connection", "refusing messages of another cluster")
               for r in caplog.records)
    good = link(listening.url, Member(), tls.client_context)
    try:
        good.send(heartbeat(1))
        await until(lambda: listening.member.received == [heartbeat(1)], "a member's message after the bad one")
    finally:
        await good.close()
