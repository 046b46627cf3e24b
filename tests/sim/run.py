"""Command line for the Raft simulator: replay one seed, or soak many.

    python -m tests.sim.run --seed 1234 --members 5            # replay one run, print its events
    python -m tests.sim.run --seeds 5000 --members 3 --jobs 2  # soak: seeds 0..4999

Why a module: a failing seed in CI prints exactly this command, and the same code path
(`tests.sim.cluster.run_seed`) replays it bit for bit.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from tests.sim.cluster import RunResult, Scenario, failure_report, run_seed


def _run(args: tuple[int, Scenario]) -> RunResult:
    seed, sc = args
    res = run_seed(seed, sc)
    if res.ok:
        res.events = []  # keep inter-process traffic small
    return res


def run_many(seeds: range, sc: Scenario, jobs: int) -> list[RunResult]:
    """Run seeds (in `jobs` processes when > 1); results in seed order."""
    work = [(s, sc) for s in seeds]
    if jobs <= 1:
        return [_run(w) for w in work]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_run, work, chunksize=max(1, len(work) // (jobs * 8))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.run", description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, help="replay exactly this seed (prints the event log)")
    ap.add_argument("--seeds", type=int, default=0, help="soak: run seeds [--first, --first + N)")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--steps", type=int, default=Scenario.steps)
    ap.add_argument("--membership", action="store_true", help="add/remove members during the run")
    ap.add_argument("--clients", type=int, default=Scenario.clients)
    ap.add_argument("--fault-rate", type=float, default=Scenario.fault_rate)
    ap.add_argument("--disk-faults", action="store_true", help="disks run full / fail an fsync, then recover")
    ap.add_argument("--bugs", default="", help="deliberate node-layer bugs (checker self-test), comma list")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--verbose", "-v", action="store_true")
    a = ap.parse_args(argv)
    sc = Scenario(members=a.members, steps=a.steps, membership=a.membership, clients=a.clients,
                  fault_rate=a.fault_rate, disk_faults=a.disk_faults, bugs=frozenset(b for b in a.bugs.split(",") if b))
    if a.seed is not None:
        res = run_seed(a.seed, sc)
        if a.verbose or not res.ok:
            for e in res.events:
                print(e)
        print(res.summary())
        if not res.ok:
            print(failure_report(res))
        return 0 if res.ok else 1
    n = a.seeds or 100
    t0 = time.perf_counter()
    results = run_many(range(a.first, a.first + n), sc, a.jobs)
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(failure_report(r, events=10))
        print()
    ops = sum(r.ops for r in results)
    print(f"{n - len(bad)}/{n} seeds ok, {ops} client ops, {time.perf_counter() - t0:.1f}s")
    for r in bad:
        print(f"FAILED: {r.replay}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
