"""The replicated state machine of a simulated member: the real MVCC store behind a tiny codec.

Why the real `kvstore.mvcc.MVCCStore`: the simulator then exercises the exact apply path the
kvstore uses (InternalRaftRequest bytes in, etcd responses out), and the client history the
linearizability checker sees is what etcd clients would see.

Why request ids are de-duplicated here: a forwarded proposal (MsgProp) may be duplicated by
the network and so appended twice; applying a client request once per id is the state
machine's job (Raft gives at-least-once for proposals), and every replica does it the same
way because the id set is part of the replicated state (and of snapshots).

`chain` is a running digest of every applied entry (term, index, type, data), so two
replicas that applied the same index but disagree on any earlier entry are caught in O(1),
including a replica restored from a snapshot.
"""

from __future__ import annotations

import hashlib
import struct

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore.errors import KVError
from kvstore.mvcc import MVCCStore
from kvstore.raft.types import Entry, EntryType

_Cmp = rpc_pb2.Compare
ZERO_CHAIN = bytes(8)


def chain_next(prev: bytes, e: Entry) -> bytes:
    h = hashlib.blake2b(prev, digest_size=8)
    h.update(struct.pack(">QQB", e.term, e.index, int(e.type)))
    h.update(e.data)
    return h.digest()


def encode_request(req_id: int, kind: str, key: str, value: str | None, expected: str | None) -> bytes:
    """The log entry of one client write: an etcd InternalRaftRequest."""
    req = internal_pb2.InternalRaftRequest(ID=req_id)
    k = key.encode()
    if kind == "put":
        req.put.key = k
        req.put.value = (value or "").encode()
    elif kind == "delete":
        req.delete_range.key = k
    elif kind == "cas":
        cmp = req.txn.compare.add(key=k)
        if expected is None:  # "create if absent"
            cmp.target, cmp.result, cmp.version = _Cmp.VERSION, _Cmp.EQUAL, 0
        else:
            cmp.target, cmp.result, cmp.value = _Cmp.VALUE, _Cmp.EQUAL, expected.encode()
        req.txn.success.add().request_put.CopyFrom(rpc_pb2.PutRequest(key=k, value=(value or "").encode()))
    else:
        raise ValueError(f"not a write: {kind}")
    return req.SerializeToString()


class KVStateMachine:
    """MVCC store + applied index + digest chain + applied request ids."""

    def __init__(self) -> None:
        self.store = MVCCStore()
        self.applied = 0
        self.chain = ZERO_CHAIN
        self.seen_ids: set[int] = set()

    def apply(self, e: Entry) -> tuple[int, object] | None:
        """Apply one committed entry; (request id, client-visible output) for client writes."""
        if e.index != self.applied + 1:
            raise AssertionError(f"apply out of order: applied {self.applied}, got index {e.index}")
        self.applied = e.index
        self.chain = chain_next(self.chain, e)
        if e.type != EntryType.NORMAL or not e.data:
            return None
        req = internal_pb2.InternalRaftRequest.FromString(e.data)
        if req.ID in self.seen_ids:
            return None  # a duplicated proposal: already applied once
        self.seen_ids.add(req.ID)
        kind = req.WhichOneof("request")
        try:
            resp = self.store.apply(e.index, e.term, e.data)
        except KVError:  # a failed request still counts as applied (as on every replica)
            return req.ID, None
        if kind == "delete_range":
            assert isinstance(resp, rpc_pb2.DeleteRangeResponse)
            return req.ID, resp.deleted > 0
        if kind == "txn":
            assert isinstance(resp, rpc_pb2.TxnResponse)
            return req.ID, resp.succeeded
        return req.ID, None

    def get(self, key: str) -> str | None:
        rec = self.store.get(key.encode())
        return None if rec is None else rec.value.decode()

    def items(self) -> dict[str, str]:
        resp = self.store.range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0"))
        return {kv.key.decode(): kv.value.decode() for kv in resp.kvs}

    # ------------------------------------------------------------ snapshots
    def snapshot_data(self) -> bytes:
        ids = sorted(self.seen_ids)
        head = struct.pack(">8sQI", self.chain, self.applied, len(ids))
        return head + struct.pack(f">{len(ids)}Q", *ids) + self.store.to_snapshot().SerializeToString()

    @classmethod
    def restore(cls, data: bytes, index: int) -> KVStateMachine:
        sm = cls()
        if not data:
            if index:
                raise AssertionError(f"empty snapshot data at index {index}")
            return sm
        chain, applied, n = struct.unpack_from(">8sQI", data)
        off = struct.calcsize(">8sQI")
        ids = struct.unpack_from(f">{n}Q", data, off)
        off += 8 * n
        if applied != index:
            raise AssertionError(f"snapshot data is of index {applied}, meta says {index}")
        sm.store = MVCCStore.from_snapshot(internal_pb2.KVStoreSnapshot.FromString(data[off:]))
        sm.applied, sm.chain, sm.seen_ids = applied, chain, set(ids)
        return sm
