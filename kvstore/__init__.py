"""kvstore: a Raft-replicated MVCC key-value store speaking etcd's v3 gRPC API.

Modules, bottom-up: `validate` (request checks), `mvcc` (the deterministic state
machine), `raft/` (the pure Raft core), `wal` + `snapshot` (durability),
`membership` (ids, member table), `recovery` (start-up from disk), `transport`
(peer interface, wire codec, in-memory network) + `peer` (gRPC peer transport),
`leases` (lease expiry clock), `watch` (watch streams over the change history),
`member_core` (one member's Raft node, log, apply, snapshots: synchronous,
shared with the simulator) + `compaction`, `snapshotter` (policies), `node`
(its async shell: loop, futures, tickers) + `logdisk` (WAL + snapshot files
as the core's disk), `reads` (ReadIndex batching), `cluster_ops` (lease and
membership requests), `service` (etcd gRPC servicers),
`server` (`KVStore`, the in-process API), `main` (`kubelite kvstore`).
Imports only `pb` and `daemon`.
"""
