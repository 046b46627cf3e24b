from kubelite.pb.etcd import kv_pb2 as _kv_pb2
from kubelite.pb.etcd import rpc_pb2 as _rpc_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InternalRaftRequest(_message.Message):
    __slots__ = ("ID", "put", "delete_range", "txn", "compaction", "lease_grant", "lease_revoke", "member_attributes", "batch")
    ID_FIELD_NUMBER: _ClassVar[int]
    PUT_FIELD_NUMBER: _ClassVar[int]
    DELETE_RANGE_FIELD_NUMBER: _ClassVar[int]
    TXN_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_FIELD_NUMBER: _ClassVar[int]
    LEASE_GRANT_FIELD_NUMBER: _ClassVar[int]
    LEASE_REVOKE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ID: int
    put: _rpc_pb2.PutRequest
    delete_range: _rpc_pb2.DeleteRangeRequest
    txn: _rpc_pb2.TxnRequest
    compaction: _rpc_pb2.CompactionRequest
    lease_grant: _rpc_pb2.LeaseGrantRequest
    lease_revoke: _rpc_pb2.LeaseRevokeRequest
    member_attributes: _rpc_pb2.Member
    batch: _containers.RepeatedCompositeFieldContainer[InternalRaftRequest]
    def __init__(self, ID: _Optional[int] = ..., put: _Optional[_Union[_rpc_pb2.PutRequest, _Mapping]] = ..., delete_range: _Optional[_Union[_rpc_pb2.DeleteRangeRequest, _Mapping]] = ..., txn: _Optional[_Union[_rpc_pb2.TxnRequest, _Mapping]] = ..., compaction: _Optional[_Union[_rpc_pb2.CompactionRequest, _Mapping]] = ..., lease_grant: _Optional[_Union[_rpc_pb2.LeaseGrantRequest, _Mapping]] = ..., lease_revoke: _Optional[_Union[_rpc_pb2.LeaseRevokeRequest, _Mapping]] = ..., member_attributes: _Optional[_Union[_rpc_pb2.Member, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[InternalRaftRequest, _Mapping]]] = ...) -> None: ...

class SnapshotLease(_message.Message):
    __slots__ = ("ID", "TTL")
    ID_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    ID: int
    TTL: int
    def __init__(self, ID: _Optional[int] = ..., TTL: _Optional[int] = ...) -> None: ...

class KVStoreSnapshot(_message.Message):
    __slots__ = ("index", "term", "revision", "compact_revision", "base", "changes", "leases", "members", "voters")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    index: int
    term: int
    revision: int
    compact_revision: int
    base: _containers.RepeatedCompositeFieldContainer[_kv_pb2.KeyValue]
    changes: _containers.RepeatedCompositeFieldContainer[_kv_pb2.KeyValue]
    leases: _containers.RepeatedCompositeFieldContainer[SnapshotLease]
    members: _containers.RepeatedCompositeFieldContainer[_rpc_pb2.Member]
    voters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[int] = ..., term: _Optional[int] = ..., revision: _Optional[int] = ..., compact_revision: _Optional[int] = ..., base: _Optional[_Iterable[_Union[_kv_pb2.KeyValue, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[_kv_pb2.KeyValue, _Mapping]]] = ..., leases: _Optional[_Iterable[_Union[SnapshotLease, _Mapping]]] = ..., members: _Optional[_Iterable[_Union[_rpc_pb2.Member, _Mapping]]] = ..., voters: _Optional[_Iterable[int]] = ...) -> None: ...
