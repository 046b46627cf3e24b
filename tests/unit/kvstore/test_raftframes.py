"""The Raft stream's framing and address rule (`kvstore.raftstream`), as pure functions."""

from __future__ import annotations

import pytest

from kubelite.pb.kubelite import raftpb_pb2
from kvstore.raft.types import Message, MsgType
from kvstore.raftstream import (
    MIN_FREE,
    READ_BUFFER,
    FrameError,
    FrameReader,
    encode_frame,
    raft_address,
    raft_port,
)
from kvstore.transport import batch_to_pb, message_from_pb


def test_frames_split_anywhere_are_reassembled_in_order() -> None:
    payloads = [b"", b"a", b"x" * 70_000, batch_to_pb(7, 1, [Message(MsgType.HEARTBEAT, to=2, frm=1, term=3)])
                .SerializeToString()]
    stream = b"".join(encode_frame(p) for p in payloads)
    for chunk in (1, 3, 4096, len(stream)):
        reader = FrameReader()
        got: list[bytes] = []
        for i in range(0, len(stream), chunk):
            got += reader.feed(stream[i:i + chunk])
        assert got == payloads
    batch = raftpb_pb2.MessageBatch.FromString(got[-1])
    assert batch.cluster_id == 7 and message_from_pb(batch.messages[0]).term == 3


def test_frames_larger_than_the_read_buffer_arrive_whole_whatever_the_socket_reads() -> None:
    # A lagging follower's catch-up append can be megabytes: the reader grows for it and
    # the frames around it still come out whole and in order.
    payloads = [b"a" * 10, b"b" * (3 * READ_BUFFER + 5), b"c" * 100, b"d" * (MIN_FREE + 1), b""]
    stream = b"".join(encode_frame(p) for p in payloads)
    for read_size in (7, 1000, MIN_FREE - 3, 10 * READ_BUFFER):
        reader = FrameReader()
        got: list[bytes] = []
        pos = 0
        while pos < len(stream):  # what asyncio does with a BufferedProtocol
            room = reader.buffer()
            assert len(room) > 0
            n = min(len(room), read_size, len(stream) - pos)
            room[:n] = stream[pos:pos + n]
            del room
            got += reader.filled(n)
            pos += n
        assert got == payloads


def test_a_frame_above_the_limit_is_refused_before_it_is_buffered() -> None:
    reader = FrameReader(max_frame=1024)
    assert reader.feed(encode_frame(b"y" * 1024)) == [b"y" * 1024]
    with pytest.raises(FrameError, match="1025 bytes exceeds the limit of 1024"):
        reader.feed(encode_frame(b"z" * 1025)[:4])


@pytest.mark.parametrize(("url", "address"), [
    ("https://10.0.0.1:2380", ("10.0.0.1", 2382)),
    ("http://127.0.0.1:12391", ("127.0.0.1", 12393)),
    ("https://[::1]:2380", ("::1", 2382)),
    ("kv.example:2380", ("kv.example", 2382)),
])
def test_the_raft_address_is_the_peer_urls_host_and_port_plus_two(url: str, address: tuple[str, int]) -> None:
    assert raft_address(url) == address
    assert raft_port(address[1] - 2) == address[1]


def test_a_peer_url_without_a_port_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a host and a port"):
        raft_address("https://10.0.0.1")
