"""Member ids and the member table, the peer wire codec, and `kubelite kvstore` flag checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.pb.etcd import rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2
from kvstore.main import main as kvstore_main
from kvstore.membership import (
    Membership,
    compute_member_id,
    load_meta,
    new_static_cluster,
    parse_initial_cluster,
    save_meta,
)
from kvstore.peer import url_target
from kvstore.raft import ConfState, Entry, EntryType, Message, MsgType, Snapshot, SnapshotMeta
from kvstore.transport import batch_to_pb, message_from_pb

INITIAL = "kv-1=http://127.0.0.1:2380,kv-2=http://127.0.0.1:2390,kv-3=http://127.0.0.1:2400"


def test_every_member_derives_the_same_ids() -> None:
    members = parse_initial_cluster(INITIAL)
    metas = [new_static_cluster(n, members, "tok") for n, _ in members]
    assert len({m.identity.cluster_id for m in metas}) == 1
    assert len({m.identity.member_id for m in metas}) == 3
    assert [m.ID for m in metas[0].bootstrap] == [m.ID for m in metas[2].bootstrap]
    assert metas[1].identity.member_id == compute_member_id(["http://127.0.0.1:2390"], "tok")
    other = new_static_cluster("kv-1", members, "another-token")
    assert other.identity.cluster_id != metas[0].identity.cluster_id


@pytest.mark.parametrize("bad", ["", "kv-1", "kv-1=127.0.0.1:2380", "=http://h:1"])
def test_bad_initial_cluster_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_initial_cluster(bad)


def test_name_must_be_in_the_initial_cluster() -> None:
    with pytest.raises(ValueError, match="not in --initial-cluster"):
        new_static_cluster("kv-9", parse_initial_cluster(INITIAL), "tok")


def test_meta_round_trip_and_membership_table(tmp_path: Path) -> None:
    meta = new_static_cluster("kv-2", parse_initial_cluster(INITIAL), "tok")
    save_meta(tmp_path, meta)
    again = load_meta(tmp_path)
    assert again is not None and again.identity == meta.identity
    assert [(m.ID, m.name, list(m.peerURLs)) for m in again.bootstrap] == \
        [(m.ID, m.name, list(m.peerURLs)) for m in meta.bootstrap]
    table = Membership()
    for m in again.bootstrap:
        table.add(m)
    me = meta.identity.member_id
    table.publish(me, "kv-2", ["http://127.0.0.1:2389"])
    table.add(rpc_pb2.Member(ID=me))  # a bare re-add keeps what is known
    assert table.members[me].name == "kv-2" and list(table.members[me].clientURLs) == ["http://127.0.0.1:2389"]
    assert table.has_peer_url("http://127.0.0.1:2390")
    table.remove(me)
    assert me not in table.members and me in table.removed and len(table.sorted()) == 2


def test_message_codec_round_trip() -> None:
    snap = Snapshot(SnapshotMeta(10, 2, ConfState((1, 2, 3))), b"state")
    msgs = [
        Message(MsgType.APP, to=2, frm=1, term=3, log_term=2, index=7, commit=6,
                entries=(Entry(3, 8, EntryType.NORMAL, b"x"), Entry(3, 9, EntryType.CONF_CHANGE, b"cc"))),
        Message(MsgType.APP_RESP, to=1, frm=2, term=3, index=9, reject=True, reject_hint=5, log_term=1),
        Message(MsgType.SNAP, to=3, frm=1, term=3, snapshot=snap),
        Message(MsgType.HEARTBEAT, to=2, frm=1, term=3, commit=9, context=b"ctx"),
    ]
    wire = raftpb_pb2.MessageBatch.FromString(batch_to_pb(42, 1, msgs).SerializeToString())
    assert wire.cluster_id == 42 and getattr(wire, "from") == 1
    assert [message_from_pb(m) for m in wire.messages] == msgs


def test_url_target() -> None:
    assert url_target("http://127.0.0.1:2380") == "127.0.0.1:2380"
    assert url_target("http://[::1]:2380") == "[::1]:2380"
    with pytest.raises(ValueError):
        url_target("http://host-without-port")


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    assert kvstore_main(["--data-dir", str(tmp_path), "--name", "kv-9", "--initial-cluster", INITIAL]) == 2
    assert kvstore_main(["--data-dir", str(tmp_path), "--initial-cluster", "nonsense"]) == 2
    assert kvstore_main(["--data-dir", str(tmp_path), "--heartbeat-interval", "100",
                         "--election-timeout", "150"]) == 2
