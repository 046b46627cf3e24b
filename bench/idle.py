"""Idle footprint of a local cluster running the demo: CPU share and memory of every process.

Run (root, runc, conmon, CNI plugins, docker-registry): `python bench/idle.py`.

1. `kubelite up` with its defaults (3 kvstore members, 2 nodes, runc) in a temporary
   directory, on a port offset and bridge id no other cluster uses, then the manifests
   `deploy/quickstart.sh` applies (`kctl apply -f examples/`), and waits until the demo
   Deployment's 3 pods are Running.
2. `--settle` seconds for start-up work to finish (informer lists, the first status
   updates, image pulls), then samples every process of the cluster over `--window`
   seconds from /proc: CPU ticks (own, and waited-for children such as runc and
   iptables runs) at the start and end, and RSS, PSS and USS at the end
   (`/proc/PID/smaps_rollup`; PSS divides the pages processes share, such as the
   Python interpreter and the gRPC library, between them, so the PSS sum is what the
   cluster really occupies).
3. Prints one `FIGURE` line per figure and a per-process table, then checks that the
   figures are of a whole cluster: every kvstore member in the same term with one leader
   and its Raft loop turning (`/metrics`), every daemon ready; a `WARNING` line says which
   is not (a member whose loop had stopped once made an idle run look cheaper). `--attach DATA_DIR`
   measures a cluster that is already running instead (nothing started or stopped);
   `--profile DIR` records every daemon with py-spy during the window and prints
   each one's top functions.

CPU of an idle cluster is a few percent of a core: on a shared machine compare runs
made alternately (before, after, before, after), not one pair.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import ROOT, cpu_times, end_local_cluster, up_local_cluster  # noqa: E402
from profiling import Profiler, summary  # noqa: E402

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Proc:
    name: str
    pid: int
    kubelite: bool  # one of the cluster's own Python daemons (not the registry, conmon or a container)


def cluster_processes(data_dir: Path) -> list[Proc]:
    """The supervisor and every component `kubelite up` recorded, plus the pods' conmon and
    container processes (children of conmon), found by their bundle path under the data dir."""
    state = json.loads((data_dir / "cluster.json").read_text())
    procs: list[Proc] = []
    supervisor = json.loads((data_dir / "supervisor.json").read_text()) if (data_dir / "supervisor.json").exists() \
        else {}
    sup_pid = supervisor.get("pid") or (state.get("supervisor") or {}).get("pid")
    if sup_pid:
        procs.append(Proc("supervisor", int(sup_pid), True))
    for p in state["processes"]:
        procs.append(Proc(p["name"], int(p["pid"]), p["name"] != "registry"))
    for conmon in _pids_with_cmdline(str(data_dir / "nodes")):
        if _comm(conmon) == "conmon":
            procs.append(Proc(f"conmon-{conmon}", conmon, False))
            procs += [Proc(f"container-{c}", c, False) for c in _descendants(conmon)]
    return procs


def _pids_with_cmdline(needle: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _cpu(pid: int) -> tuple[float, float] | None:
    """`cpu_times` of a process that may have gone meanwhile (None then)."""
    try:
        return cpu_times(pid)
    except OSError:
        return None


def wakeups(pid: int) -> int | None:
    """Voluntary context switches of all the process's threads so far (None if it is gone).

    Why: an idle daemon's CPU is mostly wake-ups (timers, gRPC's threads, messages); py-spy
    sees little of it, and the switches over the window say how often each process wakes."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
            except OSError:
                continue
    except OSError:
        return None
    return total


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(RSS, PSS, USS) in KiB from smaps_rollup (RSS from statm where that is missing)."""
    try:
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])
        uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
        return fields.get("Rss", 0), fields.get("Pss", 0), uss
    except (OSError, ValueError):
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        except OSError:
            return 0, 0, 0
        return rss, 0, 0


def measure(data_dir: Path, window: float, profile: Path | None) -> None:
    procs = cluster_processes(data_dir)
    prof = Profiler(profile, rate=50) if profile is not None else None
    if prof is not None:
        for p in procs:
            if p.kubelite:
                prof.attach(p.name, p.pid)
    start = {p.pid: _cpu(p.pid) for p in procs}
    wake0 = {p.pid: wakeups(p.pid) for p in procs}
    t0 = time.monotonic()
    time.sleep(window)  # the measurement window itself: nothing to wait for
    elapsed = time.monotonic() - t0
    end = {p.pid: _cpu(p.pid) for p in procs}
    wake1 = {p.pid: wakeups(p.pid) for p in procs}
    if prof is not None:
        prof.stop()
    rows = []
    for p in procs:
        a, b = start[p.pid], end[p.pid]
        if a is None or b is None:
            continue
        own = (b[0] - a[0]) / elapsed * 100
        kids = (b[1] - a[1]) / elapsed * 100
        w0, w1 = wake0[p.pid], wake1[p.pid]
        wakes = (w1 - w0) / elapsed if w0 is not None and w1 is not None else 0.0
        rows.append((p, own, kids, *memory_kb(p.pid), wakes))
    print(f"\n{'process':<22} {'pid':>7} {'CPU %':>6} {'+child':>6} {'RSS MB':>7} {'PSS MB':>7} {'USS MB':>7} "
          f"{'wakes/s':>7}")
    for p, own, kids, rss, pss, uss, wakes in sorted(rows, key=lambda r: (not r[0].kubelite, -r[1] - r[2])):
        print(f"{p.name:<22} {p.pid:>7} {own:6.2f} {kids:6.2f} {rss / 1024:7.1f} {pss / 1024:7.1f} {uss / 1024:7.1f} "
              f"{wakes:7.1f}")
    for title, sel in (("kubelite daemons", [r for r in rows if r[0].kubelite]),
                       ("registry, conmon and containers", [r for r in rows if not r[0].kubelite])):
        cpu = sum(r[1] + r[2] for r in sel)
        print(f"FIGURE idle {title}: {len(sel)} processes, CPU {cpu:.2f}% of one core over {elapsed:.0f}s, "
              f"RSS {sum(r[3] for r in sel) / 1024:.0f} MB, PSS {sum(r[4] for r in sel) / 1024:.0f} MB, "
              f"USS {sum(r[5] for r in sel) / 1024:.0f} MB, {sum(r[6] for r in sel):.0f} wake-ups/s")
    if prof is not None:
        for path in prof.files.values():
            if path.exists():
                print(summary(path, 12))
    for problem in check_whole(data_dir, window):
        print(f"WARNING the figures above are not of a whole cluster: {problem}")


def _get(addr: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else None


def check_whole(data_dir: Path, window: float) -> list[str]:
    """Why the figures may not be of a whole cluster: a daemon not ready, or a kvstore member
    out of step (another term, no single leader, a Raft loop that did not turn during `window`
    while its peers' did)."""
    state = json.loads((data_dir / "cluster.json").read_text())
    problems: list[str] = []
    members: dict[str, tuple[float | None, float | None, float | None]] = {}
    for p in state["processes"]:
        if p.get("netns") or not p.get("health") or p["name"] == "registry":
            continue  # a node daemon's health is on its node's loopback; the registry has none
        code, _ = _get(p["health"], "/readyz")
        if code != 200:
            problems.append(f"{p['name']} is not ready (/readyz: {code or 'no answer'})")
        if p["name"].startswith("kvstore"):
            first = _metric(_get(p["health"], "/metrics")[1], "kvstore_raft_loop_turns")
            time.sleep(min(window, 2.0))  # a member's loop turns several times a second: heartbeats
            text = _get(p["health"], "/metrics")[1]
            turns = _metric(text, "kvstore_raft_loop_turns")
            moved = None if first is None or turns is None else turns - first
            members[p["name"]] = (_metric(text, "kvstore_raft_term"), _metric(text, "kvstore_is_leader"), moved)
    if members:
        terms = {term for term, _, _ in members.values()}
        leaders = [name for name, (_, lead, _) in members.items() if lead == 1.0]
        if len(terms) != 1 or len(leaders) != 1:
            problems.append("kvstore members disagree: " + ", ".join(
                f"{name} term {term:g} leader {lead == 1.0}" for name, (term, lead, _) in members.items()
                if term is not None))
        if len(members) > 1:
            problems += [f"{name}'s Raft loop did not turn" for name, (_, _, moved) in members.items() if not moved]
    return problems


def kctl(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBELITE_CONFIG=str(data_dir / "config"))
    return subprocess.run([sys.executable, "-m", "kubectl.main", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def wait_demo_running(data_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    running = 0
    while time.monotonic() < deadline:
        out = kctl(data_dir, "get", "pods", "-l", "app=hello", "--no-headers")
        running = sum(1 for line in out.stdout.splitlines() if " Running " in line)
        if running >= 3:
            return
        time.sleep(1)  # polling with a deadline, as quickstart.sh does
    raise SystemExit(f"demo: only {running}/3 pods Running after {timeout:.0f}s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=2, help="kubelite up's default")
    p.add_argument("--settle", type=float, default=30.0, help="seconds between the demo Running and sampling")
    p.add_argument("--window", type=float, default=60.0, help="seconds sampled")
    p.add_argument("--attach", type=Path, default=None, metavar="DATA_DIR", help="measure a running cluster")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR", help="py-spy every daemon into DIR")
    p.add_argument("--keep", action="store_true", help="leave the cluster running (prints its data dir)")
    args = p.parse_args()
    if args.attach is not None:
        measure(args.attach, args.window, args.profile)
        return
    if os.geteuid() != 0:
        raise SystemExit("idle needs root (runc runtime, as `kubelite up` picks by default)")
    data_dir = Path(tempfile.mkdtemp(prefix="klidle-"))
    try:
        t0 = time.monotonic()
        offset, net_id = up_local_cluster(data_dir, args.nodes)
        applied = kctl(data_dir, "apply", "-f", str(ROOT / "examples"))
        if applied.returncode != 0:
            raise SystemExit(f"kctl apply failed: {applied.stderr}")
        wait_demo_running(data_dir, 180)
        print(f"cluster up (offset {offset}, net id {net_id}) and demo Running in {time.monotonic() - t0:.0f}s; "
              f"settling {args.settle:.0f}s")
        time.sleep(args.settle)  # let start-up work finish before the window: a fixed pause by design
        measure(data_dir, args.window, args.profile)
    finally:
        end_local_cluster(data_dir, args.keep)


if __name__ == "__main__":
    main()
