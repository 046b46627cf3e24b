"""Failing disks under the simulator: the shipped member core's storage-fault path.

What the user gets: a member whose disk runs full or fails an fsync never acknowledges what it
could not make durable (the durability checker looks at every vote grant and append ack as it
leaves), a failing leader hands leadership off at once, and the seeded runs with failing disks
(in `test_sim.SCENARIOS`) stay safe and linearizable.
"""

from __future__ import annotations

import random

from tests.sim.cluster import Cluster, Scenario, failure_report, run_seed
from tests.sim.disk import DiskFault


def _quiet_cluster(seed: int) -> Cluster:
    c = Cluster(seed, Scenario(members=3, disk_faults=True))
    for _ in range(200):
        c.tick_step(faults=False)
        if c.leader() is not None and c.step >= 30:
            break
    assert c.leader() is not None, "no leader in a fault-free start"
    return c


def test_leader_with_a_full_disk_hands_off_without_an_election_timeout() -> None:
    for seed in range(5):
        c = _quiet_cluster(seed)
        lead = c.leader()
        assert lead is not None
        lead.disk.fault = DiskFault("full", countdown=1, down_for=10_000, rng=random.Random(seed))
        for _ in range(100):
            c.tick_step(faults=False)
            if lead.disk_failed_at is not None:
                break
        assert lead.disk_failed_at is not None, "clients kept writing, yet the leader's disk was never used"
        failed_at = c.step
        while c.step - failed_at < c.params.election_tick:
            c.tick_step(faults=False)
            new = c.leader()
            if new is not None and new is not lead:
                break
        else:
            raise AssertionError(f"seed {seed}: no new leader within an election timeout of the fault")
        assert lead.raw is None  # down, refusing everything, until its disk is freed
        c.free_disk(lead)
        assert lead.raw is not None and lead.disk_failed_at is None


def test_checkers_catch_a_member_that_ignores_a_failed_fsync() -> None:
    """The fsyncgate mistake -- carry on as if the failed write had worked -- fails a seed."""
    sc = Scenario(members=3, disk_faults=True, fault_rate=0.15, bugs=frozenset(["ignore_disk_errors"]))
    for seed in range(40):
        res = run_seed(seed, sc)
        if not res.ok:
            assert "durability" in res.error or "safety" in res.error or "linearizable" in res.error, res.error
            assert "--disk-faults" in failure_report(res)
            return
    raise AssertionError("a member ignoring disk errors went unnoticed for 40 seeds")


def test_a_disk_fault_seed_replays_exactly() -> None:
    sc = Scenario(members=3, disk_faults=True, fault_rate=0.15)
    a, b = run_seed(77, sc), run_seed(77, sc)
    assert a.ok, failure_report(a)
    assert a.events == b.events and a.disk_faults == b.disk_faults > 0
