"""The MVCC key-value state machine: etcd v3 semantics, pure and deterministic.

Why a pure state machine: every change reaches the store only through
`MVCCStore.apply(index, term, entry_bytes)`, in log order, with no clock, disk or
randomness involved. Replaying the WAL after a crash, or (next) applying Raft's
committed entries on every member, therefore yields byte-identical state and
identical responses. Reads (`range`, read-only `txn`) never change anything.

Data layout (all in memory, persisted through WAL + snapshots):
  * `_hist[key]`: every retained record of the key, oldest first. A record with
    `version == 0` is a tombstone (the key was deleted at `mod`).
  * `_keys`: all keys of `_hist`, sorted, so a range is two bisects plus the walk
    over the keys inside it (never a scan of the whole keyspace).
  * `_log` / `_log_revs`: every change since the compaction revision, in apply
    order, with the record it replaced: the watch history.
A put costs a dict lookup, two list appends and, for a new key, one `insort`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from google.protobuf.message import Message

from kubelite.pb.etcd import internal_pb2, kv_pb2, rpc_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.validate import check_put, check_txn

MAX_LEASE_TTL = 9_000_000_000
"""etcd's MaxLeaseTTL (seconds); larger grants fail with `too large lease TTL`."""

_R = TypeVar("_R", rpc_pb2.PutResponse, rpc_pb2.DeleteRangeResponse, rpc_pb2.TxnResponse)
_Compare = rpc_pb2.Compare
_Range = rpc_pb2.RangeRequest


class Rec(NamedTuple):
    """One version of a key. `version == 0` marks a deletion (tombstone)."""

    key: bytes
    create: int
    mod: int
    version: int
    value: bytes
    lease: int


class Change(NamedTuple):
    """One event of the history: the new record and the live record it replaced."""

    rec: Rec
    prev: Rec | None


@dataclass
class LeaseInfo:
    """A granted lease as the state machine knows it (no clock: expiry is the lessor's job)."""

    ttl: int
    keys: set[bytes] = field(default_factory=set)


def _mod_of(rec: Rec) -> int:
    return rec.mod


def to_kv(rec: Rec, keys_only: bool = False) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=rec.key, create_revision=rec.create, mod_revision=rec.mod, version=rec.version,
        value=b"" if keys_only else rec.value, lease=rec.lease,
    )


class _Tx:
    """The changes of one applied request, kept so a failure mid-way can be undone."""

    def __init__(self, rev: int) -> None:
        self.rev = rev
        self.touched: list[bytes] = []
        self.lease_moves: list[tuple[int, bytes, bool]] = []  # (lease, key, added)
        self.log_start = 0


class MVCCStore:
    """etcd's MVCC keyspace + lease table; mutated only by `apply`."""

    def __init__(self) -> None:
        self.revision = 1  # an empty etcd answers revision 1
        self.compact_revision = 0
        self.index = 0  # last applied log index
        self.term = 0
        self.leases: dict[int, LeaseInfo] = {}
        self._hist: dict[bytes, list[Rec]] = {}
        self._keys: list[bytes] = []
        self._log: list[Change] = []
        self._log_revs: list[int] = []

    # ------------------------------------------------------------------ apply

    def apply(self, index: int, term: int, data: bytes) -> Message:
        """Apply one log entry; return its response or raise the KVError it answers.

        A request that fails leaves the keyspace untouched; the entry still counts as
        applied (its index is recorded), exactly as on every other replica.
        """
        return self.apply_request(index, term, internal_pb2.InternalRaftRequest.FromString(data))

    def skip(self, index: int, term: int) -> None:
        """Count a log entry that does not touch the key space (no-op, membership) as applied."""
        self.index, self.term = index, term

    def apply_request(self, index: int, term: int, req: internal_pb2.InternalRaftRequest) -> Message:
        """`apply` for an already decoded request (the node decodes batched entries once)."""
        self.index, self.term = index, term
        kind = req.WhichOneof("request")
        if kind == "put":
            return self._apply_write(lambda tx: self._put(tx, req.put))
        if kind == "delete_range":
            return self._apply_write(lambda tx: self._delete(tx, req.delete_range))
        if kind == "txn":
            check_txn(req.txn)
            return self._apply_write(lambda tx: self._txn(tx, req.txn))
        if kind == "compaction":
            self._compact(req.compaction.revision)
            return rpc_pb2.CompactionResponse(header=self._header())
        if kind == "lease_grant":
            return self._lease_grant(req.lease_grant)
        if kind == "lease_revoke":
            return self._lease_revoke(req.lease_revoke.ID)
        raise KVError(errors._IA, f"etcdserver: unknown log entry {kind!r}")

    def _apply_write(self, body: Callable[[_Tx], _R]) -> _R:
        tx = _Tx(self.revision + 1)
        tx.log_start = len(self._log)
        try:
            resp = body(tx)
        except BaseException:
            self._rollback(tx)
            raise
        if tx.touched:
            self.revision = tx.rev
        resp.header.revision = self.revision
        return resp

    def _header(self) -> rpc_pb2.ResponseHeader:
        return rpc_pb2.ResponseHeader(revision=self.revision)

    def _rollback(self, tx: _Tx) -> None:
        for key in reversed(tx.touched):
            hist = self._hist[key]
            hist.pop()
            if not hist:
                del self._hist[key]
                del self._keys[bisect_left(self._keys, key)]
        for lease, key, added in reversed(tx.lease_moves):
            info = self.leases.get(lease)
            if info is not None:
                (info.keys.discard if added else info.keys.add)(key)
        del self._log[tx.log_start:]
        del self._log_revs[tx.log_start:]

    # ------------------------------------------------------------------ writes

    def _live(self, key: bytes) -> Rec | None:
        hist = self._hist.get(key)
        if hist is None:
            return None
        last = hist[-1]
        return last if last.version else None

    def _record(self, tx: _Tx, rec: Rec, prev: Rec | None) -> None:
        hist = self._hist.get(rec.key)
        if hist is None:
            self._hist[rec.key] = [rec]
            insort(self._keys, rec.key)
        else:
            hist.append(rec)
        tx.touched.append(rec.key)
        self._log.append(Change(rec, prev))
        self._log_revs.append(tx.rev)
        old_lease = prev.lease if prev is not None else 0
        if old_lease != rec.lease:
            if old_lease and (info := self.leases.get(old_lease)) is not None:
                info.keys.discard(rec.key)
                tx.lease_moves.append((old_lease, rec.key, False))
            if rec.lease:
                self.leases[rec.lease].keys.add(rec.key)
                tx.lease_moves.append((rec.lease, rec.key, True))

    def _put(self, tx: _Tx, req: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        check_put(req)
        prev = self._live(req.key)
        if (req.ignore_value or req.ignore_lease) and prev is None:
            raise errors.key_not_found()
        lease = prev.lease if (req.ignore_lease and prev is not None) else req.lease
        if lease and lease not in self.leases:
            raise errors.lease_not_found()
        value = prev.value if (req.ignore_value and prev is not None) else req.value
        if prev is None:
            rec = Rec(req.key, tx.rev, tx.rev, 1, value, lease)
        else:
            rec = Rec(req.key, prev.create, tx.rev, prev.version + 1, value, lease)
        self._record(tx, rec, prev)
        resp = rpc_pb2.PutResponse()
        if req.prev_kv and prev is not None:
            resp.prev_kv.CopyFrom(to_kv(prev))
        return resp

    def _delete_keys(self, tx: _Tx, keys: list[bytes]) -> list[Rec]:
        deleted: list[Rec] = []
        for key in keys:
            prev = self._live(key)
            if prev is None:
                continue
            self._record(tx, Rec(key, 0, tx.rev, 0, b"", 0), prev)
            deleted.append(prev)
        return deleted

    def _delete(self, tx: _Tx, req: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        if not req.key:
            raise errors.empty_key()
        deleted = self._delete_keys(tx, self._keys_in(req.key, req.range_end))
        resp = rpc_pb2.DeleteRangeResponse(deleted=len(deleted))
        if req.prev_kv:
            resp.prev_kvs.extend(to_kv(r) for r in deleted)
        return resp

    def _txn(self, tx: _Tx, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        ok = all(self._compare(c, tx.rev) for c in req.compare)
        ops = req.success if ok else req.failure
        self._check_ops(list(ops), tx.rev)
        resp = rpc_pb2.TxnResponse(succeeded=ok)
        for op in ops:
            kind = op.WhichOneof("request")
            out = resp.responses.add()
            if kind == "request_range":
                out.response_range.CopyFrom(self._range(op.request_range, tx.rev))
            elif kind == "request_put":
                out.response_put.CopyFrom(self._put(tx, op.request_put))
            elif kind == "request_delete_range":
                out.response_delete_range.CopyFrom(self._delete(tx, op.request_delete_range))
            elif kind == "request_txn":
                out.response_txn.CopyFrom(self._txn(tx, op.request_txn))
        return resp

    def _check_ops(self, ops: list[rpc_pb2.RequestOp], read_rev: int) -> None:
        """Fail a txn branch before it changes anything (etcd's checkRequests)."""
        for op in ops:
            kind = op.WhichOneof("request")
            if kind == "request_range":
                if op.request_range.revision > 0:
                    self._check_rev(op.request_range.revision)
            elif kind == "request_put":
                put = op.request_put
                prev = self._live(put.key)
                if (put.ignore_value or put.ignore_lease) and prev is None:
                    raise errors.key_not_found()
                if put.lease and put.lease not in self.leases:
                    raise errors.lease_not_found()
            elif kind == "request_txn":
                sub = op.request_txn
                ok = all(self._compare(c, read_rev) for c in sub.compare)
                self._check_ops(list(sub.success if ok else sub.failure), read_rev)

    def _compare(self, c: rpc_pb2.Compare, rev: int) -> bool:
        if not c.range_end:  # one key (every apiserver write): no range scan, no lists
            rec = self._visible_rec(c.key, rev)
            if rec is None:
                if c.target == _Compare.VALUE:
                    return False
                rec = Rec(c.key, 0, 0, 0, b"", 0)
            return _compare_one(c, rec)
        recs = [self._visible_rec(k, rev) for k in self._keys_in(c.key, c.range_end)]
        live = [r for r in recs if r is not None]
        if not live:
            if c.target == _Compare.VALUE:
                return False  # a missing key has no value to compare
            live = [Rec(c.key, 0, 0, 0, b"", 0)]
        return all(_compare_one(c, r) for r in live)

    def _compact(self, rev: int) -> None:
        if rev <= self.compact_revision:
            raise errors.compacted()
        if rev > self.revision:
            raise errors.future_rev()
        emptied = False
        for hist in self._hist.values():
            if hist[0].mod >= rev:
                continue
            i = bisect_right(hist, rev, key=_mod_of) - 1
            # a tombstone visible at `rev` goes too, unless it is itself a retained change
            keep_from = i + 1 if hist[i].version == 0 and hist[i].mod < rev else i
            if keep_from:
                del hist[:keep_from]
                emptied = emptied or not hist
        if emptied:
            for key in [k for k, h in self._hist.items() if not h]:
                del self._hist[key]
            self._keys = sorted(self._hist)
        cut = bisect_left(self._log_revs, rev)
        del self._log[:cut]
        del self._log_revs[:cut]
        # A retained change whose previous version was compacted away loses its
        # prev_kv (etcd: "if the previous KV is already compacted, nothing is
        # returned"), so snapshots, replays and live stores agree exactly.
        log = self._log
        for i, change in enumerate(log):
            prev = change.prev
            if prev is not None and prev.mod < rev and self._hist[prev.key][0] is not prev:
                log[i] = Change(change.rec, None)
        self.compact_revision = rev

    def _lease_grant(self, req: rpc_pb2.LeaseGrantRequest) -> rpc_pb2.LeaseGrantResponse:
        if req.ID <= 0:
            raise KVError(errors._IA, "etcdserver: lease id must be chosen before proposing")
        if req.ID in self.leases:
            raise errors.lease_exists()
        if req.TTL > MAX_LEASE_TTL:
            raise errors.lease_ttl_too_large()
        ttl = max(req.TTL, 1)
        self.leases[req.ID] = LeaseInfo(ttl)
        return rpc_pb2.LeaseGrantResponse(header=self._header(), ID=req.ID, TTL=ttl)

    def _lease_revoke(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        info = self.leases.get(lease_id)
        if info is None:
            raise errors.lease_not_found()
        keys = sorted(info.keys)
        self._apply_write(lambda tx: self._delete_keys_response(tx, keys))
        del self.leases[lease_id]
        return rpc_pb2.LeaseRevokeResponse(header=self._header())

    def _delete_keys_response(self, tx: _Tx, keys: list[bytes]) -> rpc_pb2.DeleteRangeResponse:
        return rpc_pb2.DeleteRangeResponse(deleted=len(self._delete_keys(tx, keys)))

    # ------------------------------------------------------------------ reads

    def _check_rev(self, rev: int) -> None:
        if rev > self.revision:
            raise errors.future_rev()
        if rev < self.compact_revision:
            raise errors.compacted()

    def _keys_in(self, start: bytes, end: bytes) -> list[bytes]:
        """Keys with any retained history in the range (live or not)."""
        if not end:
            return [start] if start in self._hist else []
        lo = bisect_left(self._keys, start)
        hi = len(self._keys) if end == b"\0" else bisect_left(self._keys, end)
        return self._keys[lo:hi] if lo < hi else []

    def _visible_rec(self, key: bytes, rev: int) -> Rec | None:
        hist = self._hist.get(key)
        if hist is None:
            return None
        rec = hist[-1]
        if rec.mod > rev:
            i = bisect_right(hist, rev, key=_mod_of) - 1
            if i < 0:
                return None
            rec = hist[i]
        return rec if rec.version else None

    def range(self, req: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        """Serve a Range at the current or a past revision (read-only)."""
        if not req.key:
            raise errors.empty_key()
        if req.revision > 0:
            self._check_rev(req.revision)
        resp = self._range(req, self.revision)
        resp.header.revision = self.revision
        return resp

    def _range(self, req: rpc_pb2.RangeRequest, current: int) -> rpc_pb2.RangeResponse:
        rev = req.revision if req.revision > 0 else current
        order, target = req.sort_order, req.sort_target
        if order == _Range.NONE and target != _Range.KEY:
            order = _Range.ASCEND
        presorted = order != _Range.DESCEND and target == _Range.KEY or order == _Range.NONE
        want = req.limit if (req.limit > 0 and presorted) else 0
        filtered = bool(req.min_mod_revision or req.max_mod_revision
                        or req.min_create_revision or req.max_create_revision)
        count = 0
        found: list[Rec] = []
        keys = self._keys_in(req.key, req.range_end)
        collect = not req.count_only
        if rev >= self.revision and not filtered:
            # Fast path (nearly every read): the newest record of each key is the answer.
            hist = self._hist
            for key in keys:
                rec = hist[key][-1]
                if rec.version:
                    count += 1
                    if collect and (not want or len(found) <= want):
                        found.append(rec)
        else:
            for key in keys:
                rec_at = self._visible_rec(key, rev)
                if rec_at is None:
                    continue
                count += 1
                if not collect or (want and len(found) > want):
                    continue
                if filtered and not _passes(req, rec_at):
                    continue
                found.append(rec_at)
        if not presorted:
            found.sort(key=_SORT_KEYS[target], reverse=order == _Range.DESCEND)
        resp = rpc_pb2.RangeResponse(count=count)
        if req.limit > 0 and len(found) > req.limit:
            del found[req.limit:]
            resp.more = True
        if not req.count_only:
            add = resp.kvs.add
            keys_only = req.keys_only
            for r in found:  # built in place: no temporary messages to copy
                add(key=r.key, create_revision=r.create, mod_revision=r.mod, version=r.version,
                    value=b"" if keys_only else r.value, lease=r.lease)
        return resp

    def txn_read_only(self, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        """Serve a txn without writes directly (nothing to log)."""
        check_txn(req)
        tx = _Tx(self.revision)
        resp = self._txn(tx, req)
        resp.header.revision = self.revision
        return resp

    def get(self, key: bytes) -> Rec | None:
        """The live record of `key` (tests, lease listings)."""
        return self._live(key)

    def __len__(self) -> int:
        return sum(1 for h in self._hist.values() if h[-1].version)

    # ------------------------------------------------------------------ watch history

    def changes_from(self, rev: int) -> int:
        """Position in `changes` of the first change with revision >= rev."""
        return bisect_left(self._log_revs, rev)

    @property
    def changes(self) -> list[Change]:
        return self._log

    @property
    def change_revs(self) -> list[int]:
        return self._log_revs

    # ------------------------------------------------------------------ snapshots

    def to_snapshot(self) -> internal_pb2.KVStoreSnapshot:
        snap = internal_pb2.KVStoreSnapshot(
            index=self.index, term=self.term, revision=self.revision, compact_revision=self.compact_revision,
        )
        snap.base.extend(to_kv(h[0]) for h in self._hist.values() if h[0].mod < self.compact_revision)
        snap.changes.extend(to_kv(c.rec) for c in self._log)
        snap.leases.extend(internal_pb2.SnapshotLease(ID=i, TTL=info.ttl) for i, info in self.leases.items())
        return snap

    @classmethod
    def from_snapshot(cls, snap: internal_pb2.KVStoreSnapshot) -> MVCCStore:
        store = cls()
        store.index, store.term = snap.index, snap.term
        store.revision, store.compact_revision = snap.revision, snap.compact_revision
        for lease in snap.leases:
            store.leases[lease.ID] = LeaseInfo(lease.TTL)
        for kv in snap.base:
            store._hist[kv.key] = [_rec(kv)]
        for kv in snap.changes:
            rec = _rec(kv)
            hist = store._hist.setdefault(rec.key, [])
            prev = hist[-1] if hist and hist[-1].version else None
            hist.append(rec)
            store._log.append(Change(rec, prev))
            store._log_revs.append(rec.mod)
        store._keys = sorted(store._hist)
        for key, hist in store._hist.items():
            last = hist[-1]
            if last.version and last.lease and (info := store.leases.get(last.lease)) is not None:
                info.keys.add(key)
        return store


def _rec(kv: kv_pb2.KeyValue) -> Rec:
    return Rec(kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value, kv.lease)


def _passes(req: rpc_pb2.RangeRequest, rec: Rec) -> bool:
    return not (
        (req.min_mod_revision and rec.mod < req.min_mod_revision)
        or (req.max_mod_revision and rec.mod > req.max_mod_revision)
        or (req.min_create_revision and rec.create < req.min_create_revision)
        or (req.max_create_revision and rec.create > req.max_create_revision)
    )


def _compare_one(c: rpc_pb2.Compare, rec: Rec) -> bool:
    target = c.target
    have: int | bytes
    want: int | bytes
    if target == _Compare.VERSION:
        have, want = rec.version, c.version
    elif target == _Compare.CREATE:
        have, want = rec.create, c.create_revision
    elif target == _Compare.MOD:
        have, want = rec.mod, c.mod_revision
    elif target == _Compare.VALUE:
        have, want = rec.value, c.value
    else:
        have, want = rec.lease, c.lease
    result = c.result
    if result == _Compare.EQUAL:
        return have == want
    if result == _Compare.NOT_EQUAL:
        return have != want
    if result == _Compare.GREATER:
        return have > want  # type: ignore[operator]
    return have < want  # type: ignore[operator]


_SORT_KEYS = {
    _Range.KEY: lambda r: r.key,
    _Range.VERSION: lambda r: r.version,
    _Range.CREATE: lambda r: r.create,
    _Range.MOD: lambda r: r.mod,
    _Range.VALUE: lambda r: r.value,
}
