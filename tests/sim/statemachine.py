"""What the simulator sees of a member's replicated state: the shipped apply path, observed.

Why an observer instead of a state machine of its own: every simulated member runs the real
`kvstore.member_core.MemberCore` (the same MVCC apply, early apply, conf-change apply and
snapshots the kvstore ships), so a seed that breaks them breaks the code in production. This
module only encodes client requests as etcd InternalRaftRequests, turns etcd responses into
what the linearizability checker compares, and watches the core through its `CoreObserver`
hooks, forwarding to the safety checkers.

`chain` is a running digest of every applied entry (term, index, type, data), so two
replicas that applied the same index but disagree on any earlier entry are caught in O(1).
A snapshot carries no digest (it is the shipped KVStoreSnapshot format), so the checker
remembers the digest of every snapshot a member took, keyed by (index, data); a member
restoring that snapshot, from a leader or from its own disk, continues from that digest.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore.errors import KVError
from kvstore.member_core import CoreObserver
from kvstore.mvcc import MVCCStore
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import Entry, HardState
from tests.sim.checkers import SafetyChecker

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


def client_output(result: PbMessage | KVError) -> object:
    """What a client observed from the response to its write (None for errors and puts)."""
    if isinstance(result, rpc_pb2.DeleteRangeResponse):
        return result.deleted > 0
    if isinstance(result, rpc_pb2.TxnResponse):
        return result.succeeded
    return None


class AppliedState(CoreObserver):
    """One member incarnation's applied state as the checkers see it (the core's `observer`)."""

    def __init__(self, node: int, checker: SafetyChecker, store: Callable[[], MVCCStore],
                 on_leader: Callable[[int, MemoryStorage], None]) -> None:
        self.node = node
        self.checker = checker
        self._store = store
        self._on_leader = on_leader
        self.applied = 0
        self.chain = ZERO_CHAIN

    def start_from(self, index: int, data: bytes) -> None:
        """The incarnation starts from the snapshot (index, data) on its disk (index 0: none)."""
        self.applied, self.chain = index, ZERO_CHAIN
        if index:
            self.chain = self._snapshot_chain(index, data)
            self.checker.on_restore(self.node, index, self.chain)

    def _snapshot_chain(self, index: int, data: bytes) -> bytes:
        chain = self.checker.snapshot_chain(index, data)
        if chain is None:
            self.checker.fail(f"member {self.node} restored a snapshot at index {index} that no member took")
        assert chain is not None
        return chain

    # ------------------------------------------------------------ reads for the harness
    def get(self, key: str) -> str | None:
        rec = self._store().get(key.encode())
        return None if rec is None else rec.value.decode()

    def items(self) -> dict[str, str]:
        resp = self._store().range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0"))
        return {kv.key.decode(): kv.value.decode() for kv in resp.kvs}

    # ------------------------------------------------------------ CoreObserver
    def on_persist(self, entries: list[Entry], storage: MemoryStorage) -> None:
        self.checker.on_persist(self.node, entries, storage)

    def on_commit(self, hard_state: HardState, storage: MemoryStorage) -> None:
        self.checker.on_commit(self.node, hard_state, storage)

    def on_leader(self, term: int, storage: MemoryStorage) -> None:
        self._on_leader(term, storage)

    def on_apply(self, entry: Entry, commit: int, term: int) -> None:
        if entry.index != self.applied + 1:
            self.checker.fail(f"member {self.node} was handed committed entry {entry.index} to apply, but its "
                              f"state machine is at {self.applied} (entries re-delivered or skipped)")
        self.applied = entry.index
        self.chain = chain_next(self.chain, entry)
        self.checker.on_apply(self.node, entry, self.chain, commit, term)

    def on_request(self, entry: Entry, req: internal_pb2.InternalRaftRequest) -> None:
        kind = req.WhichOneof("request")
        if kind == "lease_grant":
            self.checker.on_lease_granted(req.lease_grant.ID, req.lease_grant.TTL)
        elif kind == "lease_revoke":
            self.checker.on_lease_revoked(req.ID)

    def on_skip(self, entry: Entry, applied: int) -> None:
        self.checker.fail(f"member {self.node} was handed committed entry {entry.index} to apply, but its "
                          f"state machine is at {applied} (entries re-delivered)")

    def on_restore(self, index: int, data: bytes, applied_before: int) -> None:
        if index < applied_before:
            self.checker.fail(f"member {self.node} was handed snapshot {index} behind its "
                              f"applied index {applied_before}")
        self.applied, self.chain = index, self._snapshot_chain(index, data)
        self.checker.on_restore(self.node, index, self.chain)

    def on_snapshot(self, index: int, data: bytes) -> None:
        if index != self.applied:
            self.checker.fail(f"member {self.node} took a snapshot at {index} with {self.applied} applied")
        self.checker.on_snapshot(index, data, self.chain)
