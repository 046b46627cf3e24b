"""MVCC state machine: etcd v3 semantics through `MVCCStore.apply` / `range`."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message import Message

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.mvcc import MVCCStore

Cmp = rpc_pb2.Compare


class Harness:
    """Feeds requests to a store as log entries, like the node does."""

    def __init__(self) -> None:
        self.store = MVCCStore()
        self.index = 0
        self.log: list[bytes] = []

    def apply(self, **req: Message) -> Message:
        self.index += 1
        data = internal_pb2.InternalRaftRequest(**req).SerializeToString()
        self.log.append(data)
        return self.store.apply(self.index, 1, data)

    def put(self, key: bytes, value: bytes = b"v", **kw: object) -> rpc_pb2.PutResponse:
        resp = self.apply(put=rpc_pb2.PutRequest(key=key, value=value, **kw))  # type: ignore[arg-type]
        assert isinstance(resp, rpc_pb2.PutResponse)
        return resp

    def delete(self, key: bytes, end: bytes = b"", prev_kv: bool = False) -> rpc_pb2.DeleteRangeResponse:
        resp = self.apply(delete_range=rpc_pb2.DeleteRangeRequest(key=key, range_end=end, prev_kv=prev_kv))
        assert isinstance(resp, rpc_pb2.DeleteRangeResponse)
        return resp

    def txn(self, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        resp = self.apply(txn=req)
        assert isinstance(resp, rpc_pb2.TxnResponse)
        return resp

    def get(self, key: bytes, end: bytes = b"", **kw: object) -> rpc_pb2.RangeResponse:
        return self.store.range(rpc_pb2.RangeRequest(key=key, range_end=end, **kw))  # type: ignore[arg-type]

    def keys(self, key: bytes, end: bytes = b"", **kw: object) -> list[bytes]:
        return [kv.key for kv in self.get(key, end, **kw).kvs]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_revisions_and_versions(h: Harness) -> None:
    assert h.store.revision == 1
    assert h.put(b"a", b"1").header.revision == 2
    assert h.put(b"a", b"2").header.revision == 3
    kv = h.get(b"a").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version, kv.value) == (2, 3, 2, b"2")
    h.delete(b"a")
    assert h.get(b"a").count == 0
    h.put(b"a", b"3")
    kv = h.get(b"a").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (5, 5, 1)


def test_range_at_past_revision(h: Harness) -> None:
    h.put(b"k", b"one")  # rev 2
    h.put(b"k", b"two")  # rev 3
    h.delete(b"k")  # rev 4
    assert h.get(b"k", revision=2).kvs[0].value == b"one"
    assert h.get(b"k", revision=3).kvs[0].value == b"two"
    assert h.get(b"k", revision=4).count == 0
    assert h.get(b"k", revision=1).count == 0
    with pytest.raises(KVError) as exc:
        h.get(b"k", revision=5)
    assert exc.value == errors.future_rev()


def test_prefix_from_key_limit_count(h: Harness) -> None:
    for k in [b"a", b"b/1", b"b/2", b"b/3", b"c"]:
        h.put(k)
    assert h.keys(b"b/", b"b0") == [b"b/1", b"b/2", b"b/3"]
    assert h.keys(b"b/2", b"\0") == [b"b/2", b"b/3", b"c"]
    assert h.keys(b"\0", b"\0") == [b"a", b"b/1", b"b/2", b"b/3", b"c"]
    resp = h.get(b"b/", b"b0", limit=2)
    assert [kv.key for kv in resp.kvs] == [b"b/1", b"b/2"]
    assert resp.more and resp.count == 3
    resp = h.get(b"b/", b"b0", limit=3)
    assert not resp.more and resp.count == 3
    resp = h.get(b"b/", b"b0", count_only=True)
    assert resp.count == 3 and not resp.kvs
    resp = h.get(b"b/", b"b0", keys_only=True)
    assert all(kv.value == b"" for kv in resp.kvs) and len(resp.kvs) == 3


def test_sorting(h: Harness) -> None:
    h.put(b"x", b"3")
    h.put(b"y", b"1")
    h.put(b"z", b"2")
    R = rpc_pb2.RangeRequest
    assert h.keys(b"x", b"\0", sort_order=R.DESCEND) == [b"z", b"y", b"x"]
    assert h.keys(b"x", b"\0", sort_order=R.ASCEND, sort_target=R.VALUE) == [b"y", b"z", b"x"]
    assert h.keys(b"x", b"\0", sort_order=R.DESCEND, sort_target=R.MOD, limit=2) == [b"z", b"y"]


def test_put_options(h: Harness) -> None:
    assert not h.put(b"k", b"1", prev_kv=True).HasField("prev_kv")
    assert h.put(b"k", b"2", prev_kv=True).prev_kv.value == b"1"
    h.put(b"k", ignore_value=True, value=b"")
    assert h.get(b"k").kvs[0].value == b"2"
    with pytest.raises(KVError) as exc:
        h.put(b"missing", b"", ignore_value=True)
    assert exc.value == errors.key_not_found()
    with pytest.raises(KVError) as exc:
        h.put(b"", b"x")
    assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(KVError) as exc:
        h.put(b"k", b"x", lease=42)
    assert exc.value == errors.lease_not_found()


def test_delete_range_prev_kv(h: Harness) -> None:
    for k in [b"p/1", b"p/2", b"q"]:
        h.put(k, k)
    resp = h.delete(b"p/", b"p0", prev_kv=True)
    assert resp.deleted == 2 and [kv.value for kv in resp.prev_kvs] == [b"p/1", b"p/2"]
    rev = h.store.revision
    assert h.delete(b"nothing").deleted == 0
    assert h.store.revision == rev  # a delete that deletes nothing is no new revision


def cmp(key: bytes, target: int, result: int, **value: object) -> rpc_pb2.Compare:
    return rpc_pb2.Compare(key=key, target=target, result=result, **value)  # type: ignore[arg-type]


def put_op(key: bytes, value: bytes) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))


def test_txn_compare_targets(h: Harness) -> None:
    h.put(b"k", b"v1")  # rev 2
    h.put(b"k", b"v2")  # rev 3, version 2
    cases = [
        (cmp(b"k", Cmp.VERSION, Cmp.EQUAL, version=2), True),
        (cmp(b"k", Cmp.VERSION, Cmp.GREATER, version=2), False),
        (cmp(b"k", Cmp.CREATE, Cmp.EQUAL, create_revision=2), True),
        (cmp(b"k", Cmp.MOD, Cmp.LESS, mod_revision=4), True),
        (cmp(b"k", Cmp.MOD, Cmp.NOT_EQUAL, mod_revision=3), False),
        (cmp(b"k", Cmp.VALUE, Cmp.EQUAL, value=b"v2"), True),
        (cmp(b"k", Cmp.VALUE, Cmp.GREATER, value=b"v1"), True),
        (cmp(b"k", Cmp.LEASE, Cmp.EQUAL, lease=0), True),
        (cmp(b"missing", Cmp.CREATE, Cmp.EQUAL, create_revision=0), True),
        (cmp(b"missing", Cmp.VALUE, Cmp.EQUAL, value=b""), False),
        (cmp(b"a", Cmp.VERSION, Cmp.GREATER, version=0, range_end=b"\0"), True),
    ]
    for compare, expected in cases:
        resp = h.store.txn_read_only(rpc_pb2.TxnRequest(compare=[compare]))
        assert resp.succeeded is expected, compare


def test_txn_create_and_cas_like_apiserver(h: Harness) -> None:
    create = rpc_pb2.TxnRequest(
        compare=[cmp(b"/registry/pods/default/p", Cmp.CREATE, Cmp.EQUAL, create_revision=0)],
        success=[put_op(b"/registry/pods/default/p", b"v1")],
        failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"/registry/pods/default/p"))],
    )
    first = h.txn(create)
    assert first.succeeded and first.header.revision == 2
    second = h.txn(create)
    assert not second.succeeded and second.responses[0].response_range.kvs[0].value == b"v1"
    assert second.header.revision == 2
    update = rpc_pb2.TxnRequest(
        compare=[cmp(b"/registry/pods/default/p", Cmp.MOD, Cmp.EQUAL, mod_revision=2)],
        success=[put_op(b"/registry/pods/default/p", b"v2")],
    )
    assert h.txn(update).succeeded
    assert not h.txn(update).succeeded  # stale resourceVersion


def test_txn_nested_and_reads_own_writes(h: Harness) -> None:
    inner = rpc_pb2.TxnRequest(
        compare=[cmp(b"a", Cmp.VALUE, Cmp.EQUAL, value=b"1")],
        success=[put_op(b"b", b"2"), rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"a"))],
    )
    resp = h.txn(rpc_pb2.TxnRequest(success=[put_op(b"a", b"1"), rpc_pb2.RequestOp(request_txn=inner)]))
    assert resp.succeeded
    nested = resp.responses[1].response_txn
    assert nested.succeeded and nested.responses[1].response_range.kvs[0].value == b"1"
    assert h.get(b"a").kvs[0].mod_revision == h.get(b"b").kvs[0].mod_revision == 2


def test_txn_rejects_duplicates_and_is_atomic(h: Harness) -> None:
    with pytest.raises(KVError) as exc:
        h.txn(rpc_pb2.TxnRequest(success=[put_op(b"a", b"1"), put_op(b"a", b"2")]))
    assert exc.value == errors.duplicate_key()
    with pytest.raises(KVError):
        h.txn(rpc_pb2.TxnRequest(success=[
            put_op(b"x", b"1"),
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"y", lease=99)),
        ]))
    assert h.get(b"x").count == 0 and h.store.revision == 1
    with pytest.raises(KVError) as exc:
        h.txn(rpc_pb2.TxnRequest(success=[put_op(b"k", b"v")] * 129))
    assert exc.value == errors.too_many_ops()


def test_compaction(h: Harness) -> None:
    h.put(b"k", b"1")  # 2
    h.put(b"k", b"2")  # 3
    h.put(b"gone", b"x")  # 4
    h.delete(b"gone")  # 5
    h.put(b"k", b"3")  # 6
    h.apply(compaction=rpc_pb2.CompactionRequest(revision=5))
    assert h.store.compact_revision == 5
    with pytest.raises(KVError) as exc:
        h.get(b"k", revision=4)
    assert exc.value == errors.compacted()
    assert exc.value.code == grpc.StatusCode.OUT_OF_RANGE
    assert exc.value.message == "etcdserver: mvcc: required revision has been compacted"
    assert h.get(b"k", revision=5).kvs[0].value == b"2"
    assert h.get(b"k").kvs[0].value == b"3"
    assert h.get(b"gone", revision=5).count == 0
    with pytest.raises(KVError) as exc:
        h.apply(compaction=rpc_pb2.CompactionRequest(revision=5))
    assert exc.value == errors.compacted()
    with pytest.raises(KVError) as exc:
        h.apply(compaction=rpc_pb2.CompactionRequest(revision=99))
    assert exc.value == errors.future_rev()


def test_leases_attach_and_revoke(h: Harness) -> None:
    grant = h.apply(lease_grant=rpc_pb2.LeaseGrantRequest(ID=7, TTL=10))
    assert isinstance(grant, rpc_pb2.LeaseGrantResponse) and grant.TTL == 10
    h.put(b"a", lease=7)
    h.put(b"b", lease=7)
    h.put(b"c", lease=7)
    h.put(b"c")  # detached again
    h.put(b"b", b"new", ignore_lease=True)
    assert h.store.leases[7].keys == {b"a", b"b"}
    with pytest.raises(KVError) as exc:
        h.apply(lease_grant=rpc_pb2.LeaseGrantRequest(ID=7, TTL=10))
    assert exc.value == errors.lease_exists()
    rev = h.store.revision
    h.apply(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=7))
    assert h.keys(b"a", b"\0") == [b"c"]
    assert h.store.revision == rev + 1  # one revision for all deleted keys
    with pytest.raises(KVError) as exc:
        h.apply(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=7))
    assert exc.value == errors.lease_not_found()


def test_replay_and_snapshot_are_deterministic(h: Harness) -> None:
    h.apply(lease_grant=rpc_pb2.LeaseGrantRequest(ID=3, TTL=5))
    for i in range(30):
        h.put(b"k%d" % (i % 7), b"v%d" % i, lease=3 if i % 5 == 0 else 0)
        if i % 4 == 0:
            h.delete(b"k%d" % (i % 3))
    h.apply(compaction=rpc_pb2.CompactionRequest(revision=15))
    h.put(b"after", b"x")
    replayed = MVCCStore()
    for i, data in enumerate(h.log, 1):
        try:
            replayed.apply(i, 1, data)
        except KVError:
            pass
    restored = MVCCStore.from_snapshot(h.store.to_snapshot())
    for other in (replayed, restored):
        assert other.to_snapshot() == h.store.to_snapshot()
        assert other.range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0")) == h.get(b"\0", b"\0")
        assert other.leases == h.store.leases
        assert other.changes == h.store.changes
        assert other._hist == h.store._hist and other._keys == h.store._keys
