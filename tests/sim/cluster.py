"""The cluster harness: members, network, clients and checkers advanced in lock-step.

Why one loop and one `random.Random`: a seed must replay exactly, so every decision (which
message arrives when, which member crashes, what a client asks, each member's election
timeouts) is drawn from `self.rng` or from generators seeded by it, in a fixed order.

One step = faults, clients act, lease traffic and expiry (`leases.py`), due messages are
delivered, members tick (each at its own skewed rate), every member's Ready is handled until
none is left, then the safety checkers look at every member. After the fault phase, `_converge` heals everything and demands that
the cluster elects a leader, commits a final write, and that every member applies the same
log; the client history must then be linearizable.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field

from kvstore.raft.types import Message, MsgType
from tests.checkers.linearizability import Op, check
from tests.sim.checkers import SafetyChecker, SafetyViolation
from tests.sim.clients import Client
from tests.sim.leases import LeaseWorkload
from tests.sim.network import Network
from tests.sim.node import NodeParams, SimNode


@dataclass
class Scenario:
    members: int = 3
    steps: int = 300
    membership: bool = False
    clients: int = 4
    keys: int = 3
    fault_rate: float = 0.05
    """Probability per step that one fault (or repair) is injected."""
    final_steps: int = 800
    """Steps allowed after healing for a leader, a final write and convergence."""
    bugs: frozenset[str] = frozenset()
    """Deliberate node-layer bugs (see NodeParams.bugs): only for the checkers' own tests."""
    disk_faults: bool = False
    """Disks also run full or fail an fsync (`tests.sim.disk.DiskFault`), and are freed later."""

    def replay_command(self, seed: int) -> str:
        cmd = f"python -m tests.sim.run --seed {seed} --members {self.members} --steps {self.steps}"
        default = Scenario()
        if self.clients != default.clients:
            cmd += f" --clients {self.clients}"
        if self.fault_rate != default.fault_rate:
            cmd += f" --fault-rate {self.fault_rate}"
        if self.bugs:
            cmd += f" --bugs {','.join(sorted(self.bugs))}"
        if self.disk_faults:
            cmd += " --disk-faults"
        return cmd + (" --membership" if self.membership else "")


@dataclass
class RunResult:
    seed: int
    scenario: Scenario
    ok: bool = True
    error: str = ""
    steps: int = 0
    ops: int = 0
    completed: int = 0
    indeterminate: int = 0
    refused: int = 0
    max_term: int = 0
    leaders: int = 0
    crashes: int = 0
    restarts: int = 0
    lost_writes: int = 0
    conf_changes: int = 0
    disk_faults: int = 0
    snapshots_sent: int = 0
    leases_granted: int = 0
    leases_expired: int = 0
    messages: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def replay(self) -> str:
        return self.scenario.replay_command(self.seed)

    def summary(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return (f"seed {self.seed} {state}: {self.steps} steps, {self.ops} ops ({self.completed} ok, "
                f"{self.indeterminate} indeterminate, {self.refused} refused), terms {self.max_term}, "
                f"crashes {self.crashes}, restarts {self.restarts} (unsynced writes lost {self.lost_writes}), "
                f"conf changes {self.conf_changes}, snapshots sent {self.snapshots_sent}, "
                f"messages {self.messages}" + (f", disk faults {self.disk_faults}" if self.scenario.disk_faults else ""))


class SimFailure(AssertionError):
    """A run broke a property; str() ends with the one-line replay command."""


class Cluster:
    def __init__(self, seed: int, scenario: Scenario) -> None:
        self.seed = seed
        self.sc = scenario
        self.rng = random.Random(seed)
        self.step = 0
        self.events = 0
        self.checker = SafetyChecker()
        self.net = Network(random.Random(self.rng.getrandbits(64)))
        self.result = RunResult(seed, scenario)
        self.fault_rate = scenario.fault_rate * self.rng.choice([0.5, 1.0, 2.0, 4.0])
        self.params = NodeParams(snapshot_every=self.rng.choice([0, 10, 25, 60]),
                                 catch_up_entries=self.rng.choice([0, 3, 10]),
                                 max_inflight_msgs=self.rng.choice([1, 4, 64]),
                                 max_size_per_msg=self.rng.choice([1, 256, 4096, 1 << 20]),
                                 max_committed_size_per_ready=self.rng.choice([0, 0, 100, 2000]),
                                 check_quorum=self.rng.random() < 0.85,
                                 pre_vote=self.rng.random() < 0.85,
                                 bugs=scenario.bugs)
        self.nodes: dict[int, SimNode] = {}
        self.history: list[Op] = []
        self.clients: list[Client] = []
        self.accepting = True
        self._leader: SimNode | None = None
        self.conf_op: object | None = None
        """The membership change in flight (owned by tests.sim.faults)."""
        self._reports: list[tuple[int, int, bool | None]] = []  # (reporter, about, snapshot failed?)
        keys = [f"k{i}" for i in range(scenario.keys)]
        for cid in range(1, scenario.clients + 1):
            self.clients.append(Client(cid, random.Random(self.rng.getrandbits(64)), keys, timeout=40,
                                       now=self.now, history=self.history))
        self.leases = LeaseWorkload(random.Random(self.rng.getrandbits(64)))
        ids = list(range(1, scenario.members + 1))
        for i in ids:
            node = self.add_node(i)
            node.start(self.rng, peers=ids)

    # ------------------------------------------------------------ plumbing
    def now(self) -> int:
        """The shared clock of client observations: strictly increasing per observation."""
        self.events += 1
        return self.events

    def log(self, what: str) -> None:
        self.result.events.append(f"step {self.step}: {what}")

    def add_node(self, node_id: int) -> SimNode:
        node = SimNode(node_id, self.params, self.checker, clock=lambda: float(self.step))
        node.tick_rate = self.rng.uniform(0.8, 1.25)
        node.on_disk_fault = self._on_disk_fault
        self.nodes[node_id] = node
        return node

    def _on_disk_fault(self, node: SimNode, lost: int) -> None:
        self.result.disk_faults += 1
        self.result.lost_writes += lost
        fault = node.disk.fault
        self.log(f"member {node.id}: disk {fault.kind if fault else '?'} failed; down, lost {lost} unsynced writes")

    def _free_disks(self) -> None:
        """A member whose disk failed comes back once space is freed (what kvstore.node's retry finds)."""
        for n in self.nodes.values():
            fault = n.disk.fault
            if n.disk_failed_at is None or n.removed or fault is None:
                continue
            if self.step >= n.disk_failed_at + fault.down_for:
                self.free_disk(n)

    def free_disk(self, n: SimNode) -> None:
        n.disk.fault = None
        if n.disk_failed_at is not None:
            n.disk_failed_at = None
            n.start(self.rng, peers=None)
            self.result.restarts += 1
            self.log(f"member {n.id}: disk freed; rebuilt from disk")

    def alive(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raw is not None]

    def leader(self) -> SimNode | None:
        """The alive member that led the highest term at the end of the last step (if any)."""
        n = self._leader
        return n if n is not None and n.raw is not None and not n.removed else None

    def _send(self, m: Message) -> None:
        self.result.messages += 1
        if m.type == MsgType.SNAP:
            self.result.snapshots_sent += 1
        if m.type in (MsgType.APP_RESP, MsgType.VOTE_RESP) and not m.reject:
            durable = self.nodes[m.frm].disk.synced
            self.checker.on_ack(m.frm, m, durable.last_index(), durable.hard_state)
        target = self.nodes.get(m.to)
        if target is None or target.removed:
            self._reports.append((m.frm, m.to, True if m.type == MsgType.SNAP else None))
            return
        if not self.net.send(m, self.step):
            if self.net.is_blocked(m.frm, m.to):
                self._reports.append((m.frm, m.to, None))  # the transport notices a dead link
            if m.type == MsgType.SNAP:
                self._reports.append((m.frm, m.to, True))

    def _deliver(self, m: Message) -> None:
        target = self.nodes.get(m.to)
        if target is None or target.raw is None:
            if m.type == MsgType.SNAP:
                self._reports.append((m.frm, m.to, True))
            return
        if target.paused_until:
            target.inbox.append(m)
            return
        target.raw.step(m)
        if m.type == MsgType.SNAP:
            self._reports.append((m.frm, m.to, False))

    def _flush_reports(self) -> None:
        while self._reports:
            reports, self._reports = self._reports, []
            for frm, to, snap_failed in reports:
                sender = self.nodes.get(frm)
                if sender is None or sender.raw is None:
                    continue
                if snap_failed is None:
                    sender.raw.report_unreachable(to)
                else:
                    sender.raw.report_snapshot(to, snap_failed)

    def _drain(self) -> None:
        """Handle Readys until every member is quiet (reports may create more work)."""
        for n in self.nodes.values():
            n.finish_fsync()  # a leader's disk write that lagged its appends since the last step
        for _ in range(50):
            busy = False
            for n in list(self.nodes.values()):
                if n.slow_until > self.step and self.step % 4:
                    continue
                while n.handle_ready(self._send):
                    busy = True
            self._flush_reports()
            if not busy:
                return
        raise SimFailure("Ready loop did not quiesce after 50 rounds")

    def _check_leaders(self) -> None:
        self._leader = None
        best_term = -1
        for n in self.alive():
            assert n.raw is not None
            st = n.raw.status()
            if st.role == "leader":
                if st.term > best_term:
                    self._leader, best_term = n, st.term
                self.checker.on_leader(n.id, st.term, n.storage, first_time=n.was_leader_term != st.term)
                n.was_leader_term = st.term
            if st.term > self.result.max_term:
                self.result.max_term = st.term

    def _stop_removed(self) -> None:
        for n in self.nodes.values():
            if n.removed and n.raw is not None:
                n.raw = None
                self.net.drop_all_to(n.id)
                self.log(f"member {n.id} applied its own removal and stopped")

    # ------------------------------------------------------------ one step
    def pick_node(self) -> SimNode | None:
        if not self.accepting:
            return None
        alive = [n for n in self.alive() if not n.removed and not n.paused_until]
        if not alive:
            return None
        if self.rng.random() < 0.7:
            lead = self.leader()
            if lead is not None and not lead.paused_until:
                return lead
        return self.rng.choice(alive)

    def tick_step(self, faults: bool) -> None:
        self.step += 1
        self.checker.step = self.step
        if faults:
            from tests.sim.faults import inject  # local import: faults imports this module

            inject(self)
        self._free_disks()
        for c in self.clients:
            c.act(self.step, self.pick_node)
        for n in self.nodes.values():
            n.flush()  # one turn of kvstore.node: this step's writes packed into batch entries
        self.leases.act(self)
        delivered, lost = self.net.due(self.step)
        for m in lost:
            if m.type == MsgType.SNAP:
                self._reports.append((m.frm, m.to, True))
        for m in delivered:
            self._deliver(m)
        self._flush_reports()
        for n in self.alive():
            if n.paused_until:
                if self.step < n.paused_until:
                    continue
                n.paused_until = 0
                held, n.inbox = n.inbox, []
                for m in held:
                    self._deliver(m)
                self._flush_reports()
            n.tick_acc += n.tick_rate
            while n.tick_acc >= 1.0 and n.raw is not None:
                n.tick_acc -= 1.0
                n.raw.tick()
        self._drain()
        self._check_leaders()
        self._stop_removed()

    # ------------------------------------------------------------ the whole run
    def run(self) -> RunResult:
        res = self.result
        try:
            for _ in range(self.sc.steps):
                self.tick_step(faults=True)
            from tests.sim.faults import converge

            converge(self)
            self._check_history()
        except SimFailure as err:
            res.ok, res.error = False, str(err)
        except SafetyViolation as err:
            res.ok, res.error = False, f"safety violation: {err}"
        except Exception:  # a crash inside the code under test is a failure of this seed
            res.ok, res.error = False, "exception:\n" + traceback.format_exc(limit=12)
        res.steps = self.step
        res.leaders = len(self.checker.leaders)
        res.ops = len(self.history)
        res.completed = sum(1 for o in self.history if o.complete_ns is not None)
        res.indeterminate = res.ops - res.completed
        res.refused = sum(c.stats["refused"] for c in self.clients)
        res.leases_granted, res.leases_expired = self.leases.granted, self.leases.expired
        return res

    def _check_history(self) -> None:
        result = check(self.history)
        if not result.ok:
            raise SimFailure("client history is not linearizable:\n" + result.describe())


def run_seed(seed: int, scenario: Scenario) -> RunResult:
    return Cluster(seed, scenario).run()


def failure_report(res: RunResult, events: int = 25) -> str:
    lines = [f"SIMULATION FAILURE (seed {res.seed}): {res.error}", res.summary(), "last events:"]
    lines += [f"  {e}" for e in res.events[-events:]]
    lines.append(f"replay: {res.replay}")
    return "\n".join(lines)
