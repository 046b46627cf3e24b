"""A tiny in-memory cluster for Raft unit tests: RawNodes wired by a message queue.

Each member follows the Ready contract exactly (persist to its MemoryStorage,
then send, then apply, then advance), so tests exercise RawNode as the node
layer will. Delivery is FIFO and deterministic; links can be cut per direction.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from kvstore.raft import (
    ConfChange,
    Config,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MsgType,
    RawNode,
    ReadState,
)


@dataclass
class Member:
    node: RawNode
    storage: MemoryStorage
    applied: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    snapshot_data: bytes = b""


class Network:
    def __init__(self, ids: list[int], seed: int = 1, election_tick: int = 10, pre_vote: bool = True,
                 check_quorum: bool = True, max_size_per_msg: int = 1 << 20, max_inflight: int = 256,
                 bootstrap: list[int] | None = None) -> None:
        self.seed = seed
        self.cfg = dict(election_tick=election_tick, pre_vote=pre_vote, check_quorum=check_quorum,
                        max_size_per_msg=max_size_per_msg, max_inflight_msgs=max_inflight)
        self.members: dict[int, Member] = {}
        self.queue: deque[Message] = deque()
        self.cut: set[tuple[int, int]] = set()
        self.down: set[int] = set()
        self.drop_types: set[MsgType] = set()
        self.log: list[Message] = []  # every message sent, for determinism checks
        peers = bootstrap if bootstrap is not None else ids
        for i in ids:
            self.add_member(i, peers)
        self.settle()  # apply the bootstrap configuration entries

    def add_member(self, i: int, peers: list[int] | None) -> Member:
        storage = MemoryStorage()
        cfg = Config(id=i, storage=storage, rng=random.Random(self.seed * 1000 + i), **self.cfg)  # type: ignore[arg-type]
        m = Member(RawNode(cfg, peers), storage)
        self.members[i] = m
        return m

    def node(self, i: int) -> RawNode:
        return self.members[i].node

    # ----------------------------------------------------------------- links
    def isolate(self, i: int) -> None:
        for j in self.members:
            if j != i:
                self.cut.add((i, j))
                self.cut.add((j, i))

    def heal(self) -> None:
        self.cut.clear()

    def partition(self, *groups: list[int]) -> None:
        for g in groups:
            for h in groups:
                if g is not h:
                    for a in g:
                        for b in h:
                            self.cut.add((a, b))

    # ----------------------------------------------------------------- driving
    def process_ready(self, i: int) -> bool:
        m = self.members[i]
        node = m.node
        if i in self.down or not node.has_ready():
            return False
        rd = node.ready()
        if rd.snapshot is not None:
            m.storage.apply_snapshot(rd.snapshot)
            m.snapshot_data = rd.snapshot.data
            m.applied = [Entry(rd.snapshot.meta.term, rd.snapshot.meta.index)]  # stands for the snapshot
        if rd.entries:
            m.storage.append(rd.entries)
        if rd.hard_state is not None:
            m.storage.set_hard_state(rd.hard_state)
        for msg in rd.messages:
            self.log.append(msg)
            self.queue.append(msg)
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                node.apply_conf_change(ConfChange.decode(e.data))
            m.applied.append(e)
        m.read_states.extend(rd.read_states)
        node.advance(rd)
        return True

    def settle(self, max_rounds: int = 10_000) -> None:
        """Process Readys and deliver messages until nothing moves."""
        for _ in range(max_rounds):
            moved = False
            for i in sorted(self.members):
                while self.process_ready(i):
                    moved = True
            while self.queue:
                moved = True
                self.deliver(self.queue.popleft())
                for i in sorted(self.members):
                    while self.process_ready(i):
                        pass
            if not moved:
                return
        raise AssertionError("network did not settle")

    def deliver(self, msg: Message) -> None:
        dropped = (msg.frm, msg.to) in self.cut or msg.to in self.down or msg.frm in self.down \
            or msg.to not in self.members or msg.type in self.drop_types
        if msg.type == MsgType.SNAP and msg.frm not in self.down:
            sender = self.members[msg.frm].node
            if not dropped:
                self.members[msg.to].node.step(msg)
            sender.report_snapshot(msg.to, failed=dropped)
            return
        if not dropped:
            self.members[msg.to].node.step(msg)

    def tick(self, n: int = 1, ids: list[int] | None = None) -> None:
        for _ in range(n):
            for i in sorted(ids if ids is not None else self.members):
                if i not in self.down:
                    self.node(i).tick()
            self.settle()

    def elect(self, i: int) -> None:
        self.node(i).campaign()
        self.settle()
        assert self.node(i).status().role == "leader", self.node(i).status()

    def leader(self) -> int:
        leads = [i for i, m in self.members.items()
                 if i not in self.down and m.node.status().role == "leader"]
        top = max((self.node(i).status().term for i in leads), default=0)
        leads = [i for i in leads if self.node(i).status().term == top]
        return leads[0] if leads else 0

    def data(self, i: int) -> list[bytes]:
        """Applied user payloads of member i (no-ops and conf changes skipped)."""
        return [e.data for e in self.members[i].applied if e.type == EntryType.NORMAL and e.data]
