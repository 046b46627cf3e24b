"""Fault injection, the membership-change driver and the final heal-and-converge phase.

Why faults are drawn one at a time from a weighted menu: every kind of trouble (crash with
loss of unsynced writes, restart, symmetric/asymmetric partitions, isolating the leader,
lossy/duplicating/reordering links, tick skew, forced campaigns, leadership transfer and,
in `disk_faults` scenarios, a disk that runs full or fails an fsync) must be reachable from any state, while the cluster still spends enough time healthy to
make progress, so runs exercise both the faulty paths and the recovery paths.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from kvstore.raft.errors import ProposalDropped, RaftError
from kvstore.raft.types import ConfChange
from tests.checkers.linearizability import Op
from tests.sim.cluster import Cluster, SimFailure
from tests.sim.disk import DiskFault
from tests.sim.network import NetParams
from tests.sim.node import SimNode
from tests.sim.statemachine import encode_request

_MENU: list[tuple[str, float]] = [
    ("crash", 2.0), ("restart", 3.0), ("partition", 1.5), ("asymmetric", 1.0), ("isolate_leader", 1.0),
    ("heal", 2.0), ("net", 1.5), ("skew", 0.5), ("transfer", 0.5), ("campaign", 0.3), ("bounce", 1.0),
    ("pause", 1.0), ("slow_disk", 0.7), ("crash_leader", 1.0),
]
_KINDS = [k for k, _ in _MENU]
_WEIGHTS = [w for _, w in _MENU]
# Separate lists, so that scenarios without disk faults draw exactly as before (same seeds, same runs).
_DISK_MENU = [*_MENU, ("disk_full", 1.0), ("fsync_error", 0.7)]
_DISK_KINDS = [k for k, _ in _DISK_MENU]
_DISK_WEIGHTS = [w for _, w in _DISK_MENU]


def inject(c: Cluster) -> None:
    rng = c.rng
    if c.sc.membership:
        _membership(c)
    if rng.random() >= c.fault_rate:
        return
    kind = rng.choices(_DISK_KINDS, _DISK_WEIGHTS)[0] if c.sc.disk_faults else rng.choices(_KINDS, _WEIGHTS)[0]
    members = [n for n in c.nodes.values() if not n.removed]
    ids = [n.id for n in members]
    alive = [n for n in members if n.raw is not None]
    if kind == "crash" and alive:
        n = rng.choice(alive)
        lost = n.crash(rng)
        c.result.crashes += 1
        c.result.lost_writes += lost
        c.log(f"crash member {n.id} (lost {lost} unsynced writes)")
    elif kind == "crash_leader":
        lead = c.leader()
        if lead is not None:
            lost = lead.crash(rng)
            c.result.crashes += 1
            c.result.lost_writes += lost
            c.log(f"crash leader {lead.id} (lost {lost} unsynced writes)")
    elif kind == "bounce" and alive:
        # kill -9 and an immediate restart, preferring a member that just voted in the
        # newest term: what it forgets is exactly what a wrong fsync policy would lose
        voted = [n for n in alive if n.storage.hard_state().vote and n.raw is not None
                 and n.raw.status().role != "leader"]
        n = rng.choice(voted or alive)
        lost = n.crash(rng)
        n.start(rng, peers=None)
        c.result.crashes += 1
        c.result.restarts += 1
        c.result.lost_writes += lost
        c.log(f"bounce member {n.id} (lost {lost} unsynced writes)")
    elif kind == "pause" and alive:
        # prefer the leader: a leader that wakes up after its lease ran out is the classic trap
        lead = c.leader()
        n = lead if lead is not None and rng.random() < 0.6 else rng.choice(alive)
        n.paused_until = c.step + rng.randint(5, 40)
        c.log(f"pause member {n.id} until step {n.paused_until}")
    elif kind == "slow_disk" and alive:
        n = rng.choice(alive)
        n.slow_until = c.step + rng.randint(10, 60)
        c.log(f"member {n.id} has a slow disk until step {n.slow_until}")
    elif kind in ("disk_full", "fsync_error") and alive:
        # prefer the leader: its hand-off and the election after it are the interesting part
        lead = c.leader()
        n = lead if lead is not None and rng.random() < 0.5 else rng.choice(alive)
        if n.disk.fault is None:
            n.disk.fault = DiskFault("full" if kind == "disk_full" else "fsync", countdown=rng.randint(1, 6),
                                     down_for=rng.randint(5, 120), rng=random.Random(rng.getrandbits(64)))
            c.log(f"member {n.id}: disk will fail ({n.disk.fault.kind}, after {n.disk.fault.countdown} ops)")
    elif kind == "restart":
        down = [n for n in members if n.raw is None and n.disk_failed_at is None]
        if down:
            n = rng.choice(down)
            n.start(rng, peers=None)
            c.result.restarts += 1
            c.log(f"restart member {n.id}")
    elif kind == "partition" and len(ids) > 1:
        shuffled = list(ids)
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(ids) - 1)
        groups = [set(shuffled[:cut]), set(shuffled[cut:])]
        c.net.partition(groups)
        c.log(f"partition {sorted(groups[0])} | {sorted(groups[1])}")
    elif kind == "asymmetric" and len(ids) > 1:
        for _ in range(rng.randint(1, 3)):
            a, b = rng.sample(ids, 2)
            c.net.block_one_way(a, b)
            c.log(f"block link {a} -> {b}")
    elif kind == "isolate_leader":
        lead = c.leader()
        if lead is not None:
            c.net.isolate(lead.id, ids)
            c.log(f"isolate leader {lead.id}")
    elif kind == "heal":
        c.net.heal()
        c.log("heal network")
    elif kind == "net":
        c.net.params = NetParams(loss=rng.choice([0.0, 0.05, 0.2]), duplicate=rng.choice([0.0, 0.05, 0.2]),
                                 min_delay=1, max_delay=rng.randint(1, 6))
        c.log(f"network {c.net.params}")
    elif kind == "skew" and alive:
        n = rng.choice(alive)
        n.tick_rate = rng.uniform(0.5, 1.6)
        c.log(f"member {n.id} ticks at {n.tick_rate:.2f}x")
    elif kind == "transfer":
        lead = c.leader()
        others = [i for i in ids if lead is not None and i != lead.id]
        if lead is not None and lead.raw is not None and others:
            to = rng.choice(others)
            lead.raw.transfer_leadership(to)
            c.log(f"transfer leadership {lead.id} -> {to}")
    elif kind == "campaign" and alive:
        n = rng.choice(alive)
        assert n.raw is not None
        n.raw.campaign()
        c.log(f"member {n.id} campaigns")


@dataclass
class _ConfOp:
    cc: ConfChange
    deadline: int


def _membership(c: Cluster) -> None:
    """Every so often add or remove one member through the leader (never two at once)."""
    rng = c.rng
    state = c.conf_op
    assert state is None or isinstance(state, _ConfOp)
    lead = c.leader()
    if state is not None:
        done = lead is not None and ((state.cc.node_id in lead.conf.voters) == (state.cc.type == "add"))
        if done or c.step >= state.deadline:
            c.conf_op = None
            if done:
                c.result.conf_changes += 1
                assert lead is not None
                c.log(f"conf change {state.cc.type} {state.cc.node_id} applied on leader {lead.id}")
        return
    if lead is None or lead.raw is None or rng.random() >= 0.03:
        return
    voters = list(lead.conf.voters)
    low, high = max(3, c.sc.members - 1), c.sc.members + 1
    add = len(voters) < low or (len(voters) < high and rng.random() < 0.5)
    if add:
        new_id = max(c.nodes) + 1
        cc = ConfChange("add", new_id)
    else:
        cc = ConfChange("remove", rng.choice(voters))
    try:
        lead.raw.propose_conf_change(cc)
    except ProposalDropped:
        return
    c.log(f"propose conf change {cc.type} {cc.node_id} via leader {lead.id}")
    if add:
        node = c.add_node(cc.node_id)
        node.start(rng, peers=None)  # a joining member starts empty and learns everything from the leader
    c.conf_op = _ConfOp(cc, c.step + 150)


# ------------------------------------------------------------------ final phase

def converge(c: Cluster) -> None:
    """Heal every fault, restart members, then require a leader, a final write and one log."""
    c.net.heal()
    c.accepting = False
    c.log("heal everything; clients stop")
    for n in c.nodes.values():
        n.tick_rate = 1.0
        if n.disk.fault is not None and not n.removed:
            c.free_disk(n)
        if n.raw is None and not n.removed:
            n.start(c.rng, peers=None)
            c.result.restarts += 1
    final_client = 1 << 20
    seq = 0
    pending: tuple[int, int, int, SimNode] | None = None  # (req_id, invoke, deadline, proposer)
    answered: dict[int, object] = {}
    final_index = 0
    start = c.step
    while c.step - start < c.sc.final_steps:
        c.tick_step(faults=False)
        lead = c.leader()
        if lead is None or lead.raw is None:
            continue
        if pending is None and not final_index:
            seq += 1
            req_id = (final_client << 32) | seq
            try:
                lead.propose(req_id, encode_request(req_id, "put", "final", "done", None),
                             functools.partial(answered.__setitem__, req_id))
            except ProposalDropped:
                continue
            pending = (req_id, c.now(), c.step + 60, lead)
            continue
        if pending is not None:
            req_id, invoke, deadline, proposer = pending
            if req_id in answered:
                c.history.append(Op(0, "put", "final", "done", None, None, invoke, c.now()))
                final_index = proposer.sm.applied
                pending = None
            elif c.step >= deadline:
                c.history.append(Op(0, "put", "final", "done", None, None, invoke, None))
                pending = None
            continue
        if _converged(c, lead, final_index):
            _final_reads(c, lead)
            return
    raise SimFailure(_stuck_report(c, final_index))


def _converged(c: Cluster, lead: SimNode, final_index: int) -> bool:
    voters = set(lead.conf.voters)
    for n in c.nodes.values():
        if n.id not in voters and n.raw is not None and not n.removed:
            n.removed = True  # not a member of the final configuration: shut it down
    if any(c.nodes[v].raw is None for v in voters if v in c.nodes):
        return False
    if any(c.clients[i].pending is not None for i in range(len(c.clients))):
        return False
    members = [c.nodes[v] for v in voters]
    applied = {n.sm.applied for n in members}
    if len(applied) != 1 or min(applied) < final_index:
        return False
    chains = {n.sm.chain for n in members}
    if len(chains) != 1:
        raise SimFailure(f"members applied the same index {applied} with different histories")
    items = [n.sm.items() for n in members]
    if any(it != items[0] for it in items):
        raise SimFailure("members with the same applied log hold different key-value data")
    return True


def _final_reads(c: Cluster, lead: SimNode) -> None:
    """Read every key once more, linearizably, so a lost write shows in the history."""
    keys = sorted({o.key for o in c.history if isinstance(o.key, str)})
    for i, key in enumerate(keys):
        invoke = c.now()
        ctx = ((1 << 21) << 32 | i).to_bytes(8, "big")
        got: list[object] = []
        try:
            lead.read(ctx, key, got.append)
        except (ProposalDropped, RaftError):
            continue
        for _ in range(100):
            if got or lead.raw is None:
                break
            c.tick_step(faults=False)
        if got:
            c.history.append(Op(0, "get", key, None, None, got[0], invoke, c.now()))


def _stuck_report(c: Cluster, final_index: int) -> str:
    lines = [f"no convergence within {c.sc.final_steps} steps after healing (final write index {final_index})"]
    for n in c.nodes.values():
        if n.raw is None:
            lines.append(f"  member {n.id}: {'removed' if n.removed else 'down'}")
            continue
        st = n.raw.status()
        lines.append(f"  member {n.id}: {st.role} term {st.term} lead {st.lead} commit {st.commit} "
                     f"applied {n.sm.applied} voters {st.voters} last {n.storage.last_index()}")
    return "\n".join(lines)
