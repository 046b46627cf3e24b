"""Randomized safety check of the core (a small cousin of tests/sim).

Messages are dropped, duplicated and reordered, links cut, members crash and
restart from what they persisted, leaders compact their logs. After every step:
at most one leader per term, and every member applies the same entry at each
index (state-machine safety). At the end the healed cluster must make progress.
"""

from __future__ import annotations

import random

import pytest

from kvstore.raft import (
    ConfChange,
    Config,
    ConfState,
    EntryType,
    Message,
    MsgType,
    ProposalDropped,
    RawNode,
)
from tests.unit.kvstore.raft.network import Network


class Chaos(Network):
    def __init__(self, ids: list[int], seed: int) -> None:
        # Vary the protocol options and flow-control limits with the seed.
        v = seed // 2
        super().__init__(ids, seed=seed, pre_vote=v % 4 != 1, check_quorum=v % 4 != 2,
                         max_inflight=[256, 1, 4][v % 3], max_size_per_msg=[1 << 20, 1, 200][v % 5 % 3])
        self.rng = random.Random(seed)
        self.pool: list[Message] = []
        self.leaders: dict[int, int] = {}
        self.chosen: dict[int, tuple[int, bytes]] = {}
        self.checked: dict[int, int] = {}
        self.read_floor: dict[bytes, int] = {}
        self.next_id = max(ids) + 1
        self.removed: set[int] = set()
        self.reads_served = 0

    def crash_restart(self, i: int) -> None:
        m = self.members[i]
        snap = m.storage.snapshot()
        applied = snap.meta.index
        m.applied = [e for e in m.applied if e.index <= applied]
        self.checked[i] = applied  # entries after it are applied (and checked) again
        cfg = Config(id=i, storage=m.storage, applied=applied,
                     rng=random.Random(self.rng.randrange(1 << 30)), **self.cfg)  # type: ignore[arg-type]
        m.node = RawNode(cfg)
        m.read_states = []
        self.pool = [x for x in self.pool if x.to != i]

    def compact(self) -> None:
        lead = self.leader()
        if lead:
            m = self.members[lead]
            st = m.node.status()
            if st.applied > m.storage.snapshot().meta.index + 3:
                m.storage.create_snapshot(st.applied, ConfState(st.voters), b"")
                m.storage.compact(st.applied)

    def change_membership(self) -> None:
        """Remove a random voter or add a brand-new member (ids are never reused)."""
        lead = self.leader()
        if not lead:
            return
        voters = self.node(lead).status().voters
        try:
            if len(voters) > 3 and self.rng.random() < 0.5:
                victim = self.rng.choice(voters)
                self.node(lead).propose_conf_change(ConfChange("remove", victim))
            elif len(voters) < 5:
                new = self.next_id
                self.node(lead).propose_conf_change(ConfChange("add", new))
                self.next_id += 1
                self.add_member(new, None)
        except ProposalDropped:
            pass

    def step_chaos(self) -> None:
        rng = self.rng
        r = rng.random()
        ids = sorted(self.members)
        if r < 0.25:
            for i in ids:
                if i not in self.down:
                    self.node(i).tick()
        elif r < 0.40:
            i = rng.choice(ids)
            try:
                self.node(i).propose(b"v%d" % rng.randrange(1 << 30))
            except ProposalDropped:
                pass
        elif r < 0.42:
            self.cut = {(a, b) for a in ids for b in ids if a != b and rng.random() < 0.3}
        elif r < 0.45:
            self.cut.clear()
        elif r < 0.46:
            i = rng.choice(ids)
            if i in self.down:
                self.down.discard(i)
                self.crash_restart(i)
            elif len(self.down) < (len(ids) - 1) // 2:
                self.down.add(i)
        elif r < 0.47:
            self.compact()
        elif r < 0.49:
            i = rng.choice(ids)
            ctx = b"r%d" % rng.randrange(1 << 40)
            try:
                self.node(i).read_index(ctx)
                self.read_floor[ctx] = max((e.index for m in self.members.values() for e in m.applied[-1:]),
                                           default=0)
            except ProposalDropped:
                pass
        elif r < 0.495:
            lead = self.leader()
            if lead:
                self.node(lead).transfer_leadership(rng.choice(ids))
        elif r < 0.5:
            self.change_membership()
        else:
            for i in ids:
                while self.process_ready(i):
                    pass
            for msg in self.queue:
                self.pool.append(msg)
            self.queue.clear()
            if self.pool:
                k = rng.randrange(len(self.pool))
                msg = self.pool[k]
                if rng.random() < 0.9:
                    del self.pool[k]  # else: delivered again later (duplicate)
                if rng.random() < 0.1:
                    if msg.type == MsgType.SNAP:
                        self.node(msg.frm).report_snapshot(msg.to, failed=True)
                    return  # lost
                self.deliver(msg)
        self.check()

    def check(self) -> None:
        for i, m in self.members.items():
            for rs in m.read_states:
                floor = self.read_floor.pop(rs.request_ctx, None)
                assert floor is None or rs.index >= floor, f"read {rs} misses writes up to {floor}"
                self.reads_served += 1
            m.read_states.clear()
            r = m.node.raft
            if r.role == "leader":
                other = self.leaders.setdefault(r.term, i)
                assert other == i, f"two leaders in term {r.term}: {other} and {i}"
            done = self.checked.get(i, 0)
            snap_idx = m.storage.snapshot().meta.index
            for k in range(len(m.applied) - 1, -1, -1):
                e = m.applied[k]
                if e.index <= done:
                    break
                if e.index <= snap_idx and e.type == EntryType.NORMAL and not e.data:
                    continue  # placeholder for a snapshot
                got = self.chosen.setdefault(e.index, (e.term, e.data))
                assert got == (e.term, e.data), f"member {i} applied {e} but another applied {got}"
            if m.applied:
                self.checked[i] = m.applied[-1].index


def run_chaos(seed: int, steps: int = 3000) -> Chaos:
    net = Chaos([1, 2, 3] if seed % 2 else [1, 2, 3, 4, 5], seed)
    for _ in range(steps):
        net.step_chaos()
    # Heal everything: the cluster must converge and make progress.
    for i in list(net.down):
        net.down.discard(i)
        net.crash_restart(i)
    net.cut.clear()
    net.pool.clear()
    net.tick(80)
    lead = net.leader()
    assert lead, "no leader after healing"
    net.node(lead).propose(b"final")
    net.settle()
    net.tick(3)
    net.check()
    for i in net.node(lead).status().voters:
        assert net.members[i].applied[-1].data == b"final", i
    return net


@pytest.mark.parametrize("seed", range(40))
def test_random_faults_keep_safety(seed: int) -> None:
    run_chaos(seed)
