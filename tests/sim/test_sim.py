"""Deterministic simulation of the kvstore member: thousands of seeded runs with faults.

What the user gets from this: every run below drives the kvstore's own member core
(`kvstore.member_core.MemberCore`: RawNode, Ready handling, apply, snapshots, lessor) through
crashes that lose unsynced writes, restarts, lossy, duplicating and reordering links,
symmetric and asymmetric partitions, tick skew, leadership transfers and (in the membership
scenarios) members being added and removed, with lease traffic expired by the step clock,
and checks election safety, log matching, leader completeness, state-machine safety and
lease safety after every step, convergence after healing, and linearizability of what
clients saw. A failing seed prints `python -m tests.sim.run --seed N ...` that replays it exactly.

Seeds per scenario can be scaled with KUBELITE_SIM_SCALE (e.g. 0.1 for a quick look,
10 for a soak); the default totals 2,000 seeds, taken from a range that moves with each
commit (`tests.sim.seeds`), plus the fixed regression seeds that once failed.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore.leases import Lessor
from kvstore.member_core import MemberCore
from kvstore.raft.types import Entry, HardState
from tests.sim.cluster import Cluster, RunResult, Scenario, failure_report, run_seed
from tests.sim.disk import Disk
from tests.sim.run import _run, main
from tests.sim.seeds import REGRESSIONS, moving_first

_SCALE = float(os.environ.get("KUBELITE_SIM_SCALE", "1"))
_JOBS = max(1, min(2, os.cpu_count() or 1))

SCENARIOS = {
    "3-members": (Scenario(members=3), 900),
    "5-members": (Scenario(members=5), 500),
    "3-members-membership": (Scenario(members=3, membership=True), 400),
    "5-members-membership": (Scenario(members=5, membership=True), 200),
    # disks that run full or fail an fsync, then are freed (tests/sim/test_disk_faults.py)
    "3-members-disk-faults": (Scenario(members=3, disk_faults=True), 100),
    "5-members-membership-disk-faults": (Scenario(members=5, membership=True, disk_faults=True), 50),
}


def _run_seeds(sc: Scenario, seeds: range) -> list[RunResult]:
    work = [(seed, sc) for seed in seeds]
    if _JOBS == 1:
        return [_run(w) for w in work]
    # spawn, not fork: the pytest process may hold grpc threads from other tests
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=_JOBS, mp_context=ctx) as pool:
        return list(pool.map(_run, work, chunksize=16))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_seeds_keep_raft_safe_and_linearizable(name: str) -> None:
    sc, n = SCENARIOS[name]
    n = max(1, int(n * _SCALE))
    first, _source = moving_first()
    results = _run_seeds(sc, range(first, first + n))
    bad = [r for r in results if not r.ok]
    assert not bad, "\n\n".join(failure_report(r, events=15) for r in bad[:3]) + "\n\nreplay:\n" + \
        "\n".join(r.replay for r in bad)
    # The runs must really have exercised the faulty paths, not just a quiet cluster.
    total = {k: sum(getattr(r, k) for r in results)
             for k in ("crashes", "indeterminate", "completed", "snapshots_sent", "conf_changes", "lost_writes",
                       "leases_expired", "disk_faults")}
    assert total["completed"] > 20 * n, total
    if n >= 50:
        assert total["crashes"] > n and total["indeterminate"] > n and total["snapshots_sent"] > 0, total
        assert total["lost_writes"] > 0 and total["leases_expired"] > 0, total
        if sc.membership:
            assert total["conf_changes"] > n, total
        if sc.disk_faults:
            assert total["disk_faults"] > n, total


@pytest.mark.parametrize("seed,sc", REGRESSIONS, ids=[str(s) for s, _ in REGRESSIONS])
def test_regression_seed(seed: int, sc: Scenario) -> None:
    res = run_seed(seed, sc)
    assert res.ok, failure_report(res)


def test_one_seed_is_one_exact_run() -> None:
    sc = Scenario(members=5, membership=True, steps=200)
    a, b = run_seed(42, sc), run_seed(42, sc)
    assert a.ok and b.ok
    assert a.summary() == b.summary()
    assert a.events == b.events
    assert run_seed(43, sc).events != a.events


@pytest.mark.parametrize("bug,within", [("no_fsync", 60), ("local_reads", 30), ("forget_vote", 400)])
def test_checkers_catch_a_broken_node_layer(bug: str, within: int) -> None:
    """Deliberately broken persistence/read paths must be caught, with a replay command."""
    sc = Scenario(members=3, bugs=frozenset([bug]))
    for seed in range(within):
        res = run_seed(seed, sc)
        if not res.ok:
            report = failure_report(res)
            assert f"python -m tests.sim.run --seed {seed} --members 3" in report
            if bug == "local_reads":
                assert "not linearizable" in res.error
            return
    raise AssertionError(f"bug {bug!r} went unnoticed for {within} seeds")


def _answers_puts_without_applying_some(self: MemberCore, e: Entry, req: internal_pb2.InternalRaftRequest) -> None:
    """A planted apply bug: every third put is answered as done but never reaches the store."""
    if req.WhichOneof("request") == "put" and e.index % 3 == 0:
        self.store.skip(e.index, e.term)
        self.host.answer(req.ID, rpc_pb2.PutResponse())
        return
    _REAL_APPLY_ONE(self, e, req)


_REAL_APPLY_ONE = MemberCore.apply_one


def test_simulator_catches_a_bug_in_the_shipped_member_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator runs kvstore's own member core: a bug patched into its apply path fails a seed."""
    monkeypatch.setattr(MemberCore, "apply_one", _answers_puts_without_applying_some)
    sc = Scenario(members=3)
    for seed in range(20):
        res = run_seed(seed, sc)
        if not res.ok:
            assert "not linearizable" in res.error, res.error
            return
    raise AssertionError("a member core that drops applied puts went unnoticed for 20 seeds")


def _renews_for_half_the_ttl(self: Lessor, lease_id: int) -> int:
    """A planted lease bug: deadlines are set half a TTL ahead, so leases expire early."""
    ttl = self.store.leases[lease_id].ttl
    deadline = self._clock() + ttl / 2
    self._deadline[lease_id] = deadline
    heapq.heappush(self._heap, (deadline, lease_id))
    return ttl


def test_simulator_catches_a_bug_in_the_shipped_lease_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lease expiry runs under the simulator too: leases dying before their TTL fail a seed."""
    monkeypatch.setattr(Lessor, "_renew", _renews_for_half_the_ttl)
    sc = Scenario(members=3)
    for seed in range(20):
        res = run_seed(seed, sc)
        if not res.ok:
            assert "lease safety" in res.error, res.error
            return
    raise AssertionError("leases expiring at half their TTL went unnoticed for 20 seeds")


def test_simulated_members_run_the_shipped_member_core() -> None:
    c = Cluster(5, Scenario(members=3, steps=50))
    assert c.run().ok
    assert all(type(n.core) is MemberCore for n in c.nodes.values())


def test_replay_command_runs_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "7", "--members", "3", "--steps", "120"]) == 0
    assert "seed 7 ok" in capsys.readouterr().out


def test_crash_keeps_only_synced_writes_in_order() -> None:
    d = Disk()
    d.write_entries([Entry(1, 1), Entry(1, 2)])
    d.write_hard_state(HardState(1, 1, 2))
    d.fsync()
    d.write_entries([Entry(2, 3)])
    d.write_hard_state(HardState(2, 0, 3))

    class _KeepOne:
        def randint(self, a: int, b: int) -> int:
            return 1

    assert d.crash(_KeepOne()) == 1  # type: ignore[arg-type]
    st = d.synced
    assert [e.index for e in st.entries] == [1, 2, 3]
    assert st.hard_state == HardState(1, 1, 2)  # the later hard state was not synced
    storage = st.to_storage()
    assert storage.last_index() == 3 and storage.hard_state().commit == 2
