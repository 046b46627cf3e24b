"""The scheduler's own cost per pod, without the API: cycles over hollow nodes in one process.

Why next to `bench/scheduler.py`: that one measures the whole path (informer decode,
bind RPC, Event writes, the apiserver and kvstore) and on a shared 2-core machine its
wall time mostly shows who else is running. This one times only what the scheduler
process does between popping a pod and handing its bind to the API -- queue, snapshot,
filter, score, select, assume -- so a change to a plugin or the algorithm shows up
directly, and `--profile` names the functions it spends the time in.

Run: `python bench/scheduler_cycle.py [--nodes 1000 5000] [--pods 5000] [--profile]`.
Prints one summary line per node count; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

# The repository first: this directory's scheduler.py (the API benchmark) would shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubelite.api import Node, Pod  # noqa: E402
from scheduler.algorithm import Algorithm  # noqa: E402
from scheduler.cache import SchedulerCache  # noqa: E402
from scheduler.plugins import default_profile  # noqa: E402
from scheduler.resources import make_pod_info  # noqa: E402

NODE_STATUS = {"capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}


def hollow_node(i: int) -> Node:
    name = f"hollow-{i:04d}"
    return Node.from_dict({"apiVersion": "v1", "kind": "Node", "status": NODE_STATUS,
                           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})


def bench_pod(i: int) -> Pod:
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"cycle-{i:06d}", "namespace": "default", "uid": f"uid-{i}",
                     "labels": {"app": "sched-bench"}},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"],
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
    return Pod.from_dict(pod)


def run(nodes: int, pods: int, percentage: int = 0) -> float:
    """CPU seconds for `pods` scheduling cycles (decide + assume) onto `nodes` nodes."""
    cache = SchedulerCache()
    for i in range(nodes):
        cache.add_node(hollow_node(i))
    profile = default_profile(None)
    algorithm = Algorithm(profile, random.Random(1), percentage)
    infos = [make_pod_info(bench_pod(i)) for i in range(pods)]
    t0 = time.process_time()  # CPU time: other load on a shared machine stretches wall time, not this
    for info in infos:
        state = cache.cycle_state(info)
        result = algorithm.schedule(state, info.pod, state.nodes)
        assert result.node_name is not None
        cache.assume_pod(info, result.node_name)
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                    help="as the scheduler's flag: 0 = adaptive (kube-scheduler's rule), 100 = every node")
    ap.add_argument("--profile", action="store_true", help="cProfile the cycles; print the top functions")
    args = ap.parse_args()
    for n in args.nodes:
        prof = cProfile.Profile() if args.profile else None
        if prof is not None:
            prof.enable()
        seconds = run(n, args.pods, args.percentage_of_nodes_to_score)
        if prof is not None:
            prof.disable()
        print(f"[cycle] {n} nodes: {args.pods} pods in {seconds:.2f} CPU-s: {seconds / args.pods * 1e6:,.0f} us per pod "
              f"({args.pods / seconds:,.0f} pods/s, scheduling cycles only)")
        if prof is not None:
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
