"""Start-up: who this member is, and the state it had when it stopped (or crashed).

Why separate: recovery is the one place where disk formats meet Raft's storage
model, and its rules are easy to get subtly wrong, so they live together:

* identity comes from `member/meta.json`; at first start it is derived from
  `--initial-cluster` (new cluster), fetched from a running member (joining
  with `--initial-cluster-state existing`) or random (a lone member);
* the newest snapshot file gives the MVCC state, the member table and Raft's
  voters at its index; the WAL gives the entries after it and the last hard
  state (commit is clamped into [snapshot index, last entry]: a torn tail may
  have lost entries that were never acknowledged);
* a log written before Raft existed (single member, no hard state) is treated
  as fully committed by a one-voter configuration;
* a founder of a multi-member cluster with no hard state on disk crashed inside
  its first save, before it could have told anyone anything: it bootstraps again
  (etcd does the same when it finds no WAL), never replays the torn entries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from kubelite.pb.etcd import internal_pb2
from kvstore import snapshot
from kvstore.membership import (
    Identity,
    Membership,
    Meta,
    load_meta,
    new_single_member,
    new_static_cluster,
    save_meta,
)
from kvstore.mvcc import MVCCStore
from kvstore.peer import fetch_members
from kvstore.raft import ConfState, HardState, MemoryStorage, Snapshot, SnapshotMeta
from kvstore.wal import Wal


async def load_or_create_meta(
    member_dir: Path, name: str, initial_cluster: list[tuple[str, str]] | None, state: str, token: str,
    peer_url: str,
) -> Meta:
    """This member's fixed identity and the member table it starts from."""
    meta = load_meta(member_dir)
    if meta is not None:
        return meta
    if initial_cluster is None:
        meta = new_single_member(name, peer_url)
    elif state == "existing":
        mine = [u for n, u in initial_cluster if n == name]
        others = [u for n, u in initial_cluster if n != name]
        if not mine:
            raise ValueError(f"--name {name!r} is not in --initial-cluster")
        resp = await fetch_members(others)
        me = next((m for m in resp.members if set(m.peerURLs) & set(mine)), None)
        if me is None:
            raise ValueError(f"peer URL {mine[0]} is not a member of the running cluster; "
                             "run `etcdctl member add` first")
        meta = Meta(Identity(name, me.ID, resp.cluster_id), list(resp.members), joined=True)
    else:
        meta = new_static_cluster(name, initial_cluster, token)
    await asyncio.to_thread(save_meta, member_dir, meta)
    return meta


@dataclass
class Recovered:
    store: MVCCStore
    membership: Membership
    storage: MemoryStorage
    hard_state: HardState
    wal: Wal
    wal_entries: int
    peers: list[int] | None
    """The initial voters when this is a brand-new member of a new cluster (Raft bootstraps them)."""


async def recover(member_dir: Path, meta: Meta) -> Recovered:
    payload = await asyncio.to_thread(snapshot.load_latest_bytes, member_dir / "snap")
    membership = Membership()
    for m in meta.bootstrap:
        membership.add(m)
    storage = MemoryStorage()
    voters: tuple[int, ...] = ()
    if payload is not None:
        snap_pb = internal_pb2.KVStoreSnapshot.FromString(payload)
        store = MVCCStore.from_snapshot(snap_pb)
        if snap_pb.members:
            membership = Membership()
            for m in snap_pb.members:
                membership.add(m)
        voters = tuple(sorted(snap_pb.voters)) or tuple(sorted(membership.members))
        storage.apply_snapshot(Snapshot(SnapshotMeta(snap_pb.index, snap_pb.term, ConfState(voters)), payload))
    else:
        store = MVCCStore()
    wal, replay = await asyncio.to_thread(Wal.open, member_dir / "wal", store.index)
    hs = replay.hard_state
    founder = not meta.joined
    if founder and payload is None and hs is None and len(meta.bootstrap) > 1:
        # A founder of a multi-member cluster whose first save was cut short: that save
        # carries the hard state and is synced before any message leaves, so this member
        # told nobody anything. Start over from the bootstrap; replaying the torn entries
        # instead could make it act on a configuration the cluster never had (issue 11).
        replay = replay._replace(entries=[])
    storage.append(replay.entries)
    last = storage.last_index()
    if hs is None and founder and (replay.entries or payload is not None):
        # A log written before Raft (single member): everything in it was committed.
        hs = HardState(max([e.term for e in replay.entries] + [store.term, 1]), 0, last)
        if not voters:
            storage = MemoryStorage()
            storage.apply_snapshot(Snapshot(
                SnapshotMeta(store.index, store.term, ConfState((meta.identity.member_id,))), b""))
            storage.append(replay.entries)
    if hs is not None:
        hs = HardState(hs.term, hs.vote, min(max(hs.commit, store.index), last))
        storage.set_hard_state(hs)
    fresh = payload is None and not replay.entries and hs is None
    peers = sorted(m.ID for m in meta.bootstrap) if fresh and founder else None
    return Recovered(store, membership, storage, hs or HardState(), wal, len(replay.entries), peers)
