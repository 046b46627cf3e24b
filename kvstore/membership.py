"""Who is in the cluster: member ids, names, peer and client URLs, and this member's identity.

Why ids are hashes of peer URLs (as etcd does): every member of a new cluster
started with the same `--initial-cluster` computes the same ids for everyone
without talking to anyone, and a restarted member keeps its id (it is stored in
`member/meta.json` at first start). A member added later gets an id that also
hashes the time, so re-adding the same URL yields a new member.

The member table is replicated state: it changes only when a membership entry
(Raft conf change, or a member publishing its client URLs) is applied, and it is
carried in snapshots, so every member answers MemberList the same way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.pb.etcd import rpc_pb2

DEFAULT_TOKEN = "kubelite-cluster"


def parse_initial_cluster(text: str) -> list[tuple[str, str]]:
    """`a=http://h:1,b=http://h:2` -> [(name, peer URL)] (a name may repeat for several URLs)."""
    out: list[tuple[str, str]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, url = item.partition("=")
        if not eq or not name or "://" not in url:
            raise ValueError(f"bad --initial-cluster entry {item!r}; expected NAME=http://HOST:PORT")
        out.append((name.strip(), url.strip()))
    if not out:
        raise ValueError("--initial-cluster is empty")
    return out


def _hash64(*parts: bytes) -> int:
    digest = hashlib.sha256(b"\0".join(parts)).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1) or 1


def compute_member_id(peer_urls: list[str], token: str, now: float | None = None) -> int:
    parts = [u.encode() for u in sorted(peer_urls)] + [token.encode()]
    if now is not None:
        parts.append(repr(now).encode())
    return _hash64(*parts)


def compute_cluster_id(member_ids: list[int]) -> int:
    return _hash64(*(i.to_bytes(8, "big") for i in sorted(member_ids)))


def new_member_id(peer_urls: list[str], token: str) -> int:
    return compute_member_id(peer_urls, token, time.time())


@dataclass(frozen=True)
class Identity:
    name: str
    member_id: int
    cluster_id: int


@dataclass
class Membership:
    """The replicated member table: id -> etcd `Member` (name, peerURLs, clientURLs)."""

    members: dict[int, rpc_pb2.Member] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)

    def copy(self) -> Membership:
        return Membership({i: _clone(m) for i, m in self.members.items()}, set(self.removed))

    def add(self, member: rpc_pb2.Member) -> None:
        old = self.members.get(member.ID)
        m = _clone(member)
        if old is not None:
            m.name = m.name or old.name
            if not m.clientURLs:
                m.clientURLs.extend(old.clientURLs)
            if not m.peerURLs:
                m.peerURLs.extend(old.peerURLs)
        self.members[member.ID] = m
        self.removed.discard(member.ID)

    def remove(self, member_id: int) -> None:
        self.members.pop(member_id, None)
        self.removed.add(member_id)

    def publish(self, member_id: int, name: str, client_urls: list[str]) -> None:
        m = self.members.get(member_id)
        if m is None:
            return
        if name:
            m.name = name
        del m.clientURLs[:]
        m.clientURLs.extend(client_urls)

    def sorted(self) -> list[rpc_pb2.Member]:
        return [_clone(self.members[i]) for i in sorted(self.members)]

    def peer_urls(self) -> dict[int, str]:
        return {i: m.peerURLs[0] for i, m in self.members.items() if m.peerURLs}

    def has_peer_url(self, url: str) -> bool:
        return any(url in m.peerURLs for m in self.members.values())


def _clone(m: rpc_pb2.Member) -> rpc_pb2.Member:
    out = rpc_pb2.Member()
    out.CopyFrom(m)
    return out


@dataclass
class Meta:
    """`member/meta.json`: fixed at first start."""

    identity: Identity
    bootstrap: list[rpc_pb2.Member]
    joined: bool = False  # started with --initial-cluster-state existing (no bootstrap entries)


def load_meta(member_dir: Path) -> Meta | None:
    path = member_dir / "meta.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    ident = Identity(str(raw.get("name", "")), int(raw["member_id"]), int(raw["cluster_id"]))
    members = [
        rpc_pb2.Member(ID=int(m["id"]), name=str(m.get("name", "")), peerURLs=list(m.get("peer_urls", [])))
        for m in raw.get("members", [])
    ]
    if not members:  # written by a single-member kvstore before Raft: itself only
        members = [rpc_pb2.Member(ID=ident.member_id, name=ident.name)]
    return Meta(ident, members, bool(raw.get("joined", False)))


def save_meta(member_dir: Path, meta: Meta) -> None:
    member_dir.mkdir(parents=True, exist_ok=True)
    path = member_dir / "meta.json"
    tmp = path.with_suffix(".tmp")
    ident = meta.identity
    tmp.write_text(json.dumps({
        "name": ident.name, "member_id": ident.member_id, "cluster_id": ident.cluster_id, "joined": meta.joined,
        "members": [{"id": m.ID, "name": m.name, "peer_urls": list(m.peerURLs)} for m in meta.bootstrap],
    }))
    tmp.replace(path)


def new_single_member(name: str, peer_url: str) -> Meta:
    """A one-member cluster started without --initial-cluster: random ids (nothing to agree on)."""
    member_id = secrets.randbits(63) or 1
    cluster_id = compute_cluster_id([member_id]) ^ (secrets.randbits(63) or 1)
    peers = [peer_url] if peer_url else []
    return Meta(Identity(name, member_id, cluster_id), [rpc_pb2.Member(ID=member_id, name=name, peerURLs=peers)])


def new_static_cluster(name: str, initial: list[tuple[str, str]], token: str) -> Meta:
    """A member of a brand-new cluster: every member derives the same ids from `initial`."""
    urls: dict[str, list[str]] = {}
    for n, url in initial:
        urls.setdefault(n, []).append(url)
    if name not in urls:
        raise ValueError(f"--name {name!r} is not in --initial-cluster ({', '.join(urls)})")
    members = [rpc_pb2.Member(ID=compute_member_id(u, token), name=n, peerURLs=u) for n, u in urls.items()]
    ids = [m.ID for m in members]
    if len(set(ids)) != len(ids):
        raise ValueError("--initial-cluster lists the same peer URLs twice")
    me = next(m for m in members if m.name == name)
    return Meta(Identity(name, me.ID, compute_cluster_id(ids)), members)
