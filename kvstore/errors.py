"""The errors the kvstore returns, spelled exactly as etcd spells them.

Why exact strings: etcd's Go client (and so `etcdctl`) turns a gRPC status back
into a typed error by matching its message text, so `etcdserver: mvcc: required
revision has been compacted` prints as a compaction error and is retried or
reported the way users of etcd expect. Every error the state machine or the
servers raise is a `KVError` carrying the gRPC code and that message.
"""

from __future__ import annotations

import grpc


class KVError(Exception):
    """A request failed in a way the client should see (gRPC code + etcd message)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KVError) and (self.code, self.message) == (other.code, other.message)

    def __hash__(self) -> int:
        return hash((self.code, self.message))


_IA = grpc.StatusCode.INVALID_ARGUMENT


def empty_key() -> KVError:
    return KVError(_IA, "etcdserver: key is not provided")


def key_not_found() -> KVError:
    return KVError(_IA, "etcdserver: key not found")


def value_provided() -> KVError:
    return KVError(_IA, "etcdserver: value is provided")


def lease_provided() -> KVError:
    return KVError(_IA, "etcdserver: lease is provided")


def too_many_ops() -> KVError:
    return KVError(_IA, "etcdserver: too many operations in txn request")


def duplicate_key() -> KVError:
    return KVError(_IA, "etcdserver: duplicate key given in txn request")


def request_too_large() -> KVError:
    return KVError(_IA, "etcdserver: request is too large")


def compacted() -> KVError:
    return KVError(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")


def future_rev() -> KVError:
    return KVError(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")


def lease_not_found() -> KVError:
    return KVError(grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found")


def lease_exists() -> KVError:
    return KVError(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: lease already exists")


def lease_ttl_too_large() -> KVError:
    return KVError(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: too large lease TTL")


def stopped() -> KVError:
    return KVError(grpc.StatusCode.UNAVAILABLE, "etcdserver: server stopped")


def storage_failed(detail: str) -> KVError:
    """The WAL could not be written: nothing more can be acknowledged safely."""
    return KVError(grpc.StatusCode.UNAVAILABLE, f"etcdserver: storage failure: {detail}")


def not_supported(what: str) -> KVError:
    return KVError(grpc.StatusCode.UNIMPLEMENTED, f"etcdserver: {what} is not supported by this kvstore yet")


def no_leader() -> KVError:
    return KVError(grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")


def timeout() -> KVError:
    """Indeterminate: the request may still be applied (the client must not assume either way)."""
    return KVError(grpc.StatusCode.UNAVAILABLE, "etcdserver: request timed out")


def leader_changed() -> KVError:
    return KVError(grpc.StatusCode.UNAVAILABLE, "etcdserver: leader changed")


def member_removed() -> KVError:
    return KVError(grpc.StatusCode.FAILED_PRECONDITION,
                   "etcdserver: the member has been permanently removed from the cluster")


def member_not_found() -> KVError:
    return KVError(grpc.StatusCode.NOT_FOUND, "etcdserver: member not found")


def peer_url_exists() -> KVError:
    return KVError(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists")


def learner_not_supported() -> KVError:
    return KVError(grpc.StatusCode.UNIMPLEMENTED, "etcdserver: learner members are not supported by this kvstore")


def not_leader() -> KVError:
    return KVError(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: not leader")


def bad_leader_transferee() -> KVError:
    return KVError(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: bad leader transferee")


def conf_change_pending() -> KVError:
    return KVError(grpc.StatusCode.UNAVAILABLE,
                   "etcdserver: unhealthy cluster (a membership change is already in progress)")
