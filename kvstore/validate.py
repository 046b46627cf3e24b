"""Request checks etcd makes before a write is proposed (and again when it is applied).

Why separate from the state machine: these depend only on the request, so the
gRPC layer rejects malformed writes before they reach the log, and the state
machine repeats them so replaying a log written by any proposer stays safe.
"""

from __future__ import annotations

import itertools

from kubelite.pb.etcd import rpc_pb2
from kvstore import errors

MAX_TXN_OPS = 128
"""etcd's default --max-txn-ops."""


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """etcd range semantics: end empty = only `start`; end b"\\0" = every key >= start."""
    if not end:
        return key == start
    if end == b"\0":
        return key >= start
    return start <= key < end


def check_put(req: rpc_pb2.PutRequest) -> None:
    """Request-shape checks etcd does before a put is proposed."""
    if not req.key:
        raise errors.empty_key()
    if req.ignore_value and req.value:
        raise errors.value_provided()
    if req.ignore_lease and req.lease:
        raise errors.lease_provided()


def check_txn(req: rpc_pb2.TxnRequest) -> None:
    """Reject txns etcd rejects up front: too many ops, a key written twice, empty keys."""
    _check_txn_shape(req)
    _write_sets(list(req.success))
    _write_sets(list(req.failure))


def _check_txn_shape(req: rpc_pb2.TxnRequest) -> None:
    if len(req.compare) > MAX_TXN_OPS or len(req.success) > MAX_TXN_OPS or len(req.failure) > MAX_TXN_OPS:
        raise errors.too_many_ops()
    for op in itertools.chain(req.success, req.failure):
        kind = op.WhichOneof("request")
        if kind == "request_put":
            check_put(op.request_put)
        elif kind == "request_range" and not op.request_range.key:
            raise errors.empty_key()
        elif kind == "request_delete_range" and not op.request_delete_range.key:
            raise errors.empty_key()
        elif kind == "request_txn":
            _check_txn_shape(op.request_txn)


def _hits(dels: list[tuple[bytes, bytes]], key: bytes) -> bool:
    return any(in_range(key, start, end) for start, end in dels)


def _write_sets(ops: list[rpc_pb2.RequestOp]) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """Puts and deletes of one branch; a key put twice, or put and deleted, is a duplicate.

    Both branches of a nested txn may put the same key (only one of them runs).
    """
    if len(ops) == 1 and ops[0].WhichOneof("request") != "request_txn":  # e.g. a create's lone put
        op = ops[0]
        if op.WhichOneof("request") == "request_put":
            return {op.request_put.key}, []
        if op.WhichOneof("request") == "request_delete_range":
            return set(), [(op.request_delete_range.key, op.request_delete_range.range_end)]
        return set(), []
    dels = [(op.request_delete_range.key, op.request_delete_range.range_end)
            for op in ops if op.WhichOneof("request") == "request_delete_range"]
    puts: set[bytes] = set()
    for op in ops:
        if op.WhichOneof("request") != "request_txn":
            continue
        then_puts, then_dels = _write_sets(list(op.request_txn.success))
        else_puts, else_dels = _write_sets(list(op.request_txn.failure))
        for k in then_puts:
            if k in puts or _hits(dels, k):
                raise errors.duplicate_key()
        for k in else_puts:
            if (k in puts and k not in then_puts) or _hits(dels, k):
                raise errors.duplicate_key()
        puts |= then_puts | else_puts
        dels += then_dels + else_dels
    for op in ops:
        if op.WhichOneof("request") != "request_put":
            continue
        k = op.request_put.key
        if k in puts or _hits(dels, k):
            raise errors.duplicate_key()
        puts.add(k)
    return puts, dels


def is_read_only(req: rpc_pb2.TxnRequest) -> bool:
    """True when no branch (at any depth) writes, so the txn need not be logged."""
    for op in [*req.success, *req.failure]:
        kind = op.WhichOneof("request")
        if kind in ("request_put", "request_delete_range"):
            return False
        if kind == "request_txn" and not is_read_only(op.request_txn):
            return False
    return True
