"""kvstore: an MVCC key-value store with a WAL, speaking etcd's v3 gRPC API.

Modules, bottom-up: `validate` (request checks), `mvcc` (the deterministic state machine), `wal` + `snapshot`
(durability), `leases` (lease expiry clock), `watch` (watch streams over the
change history), `node` (propose -> log -> apply pipeline; where Raft plugs in),
`service` (gRPC servicers), `server` (`KVStore`, the in-process API), `main`
(`kubelite kvstore`). Imports only `pb` and `daemon`.
"""
