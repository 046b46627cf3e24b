"""What `kubelite down` removes besides the daemons: containers, mounts, stray processes.

Why it does not rely on the kubelets: with the runc runtime containers are
meant to outlive their kubelet (a restart re-adopts them), and after a crash
there may be no kubelet at all. So `down` finds what the cluster left from
the outside -- runc state under each node's data directory, mounts under the
cluster's data directory, processes that carry the cluster's marker in their
environment -- and removes it, then checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubelet.runc import overlay
from kubelite.procs import live_pids_with

CLUSTER_ENV = "KUBELITE_CLUSTER_DIR"


@dataclass(frozen=True)
class RuncContainer:
    root: Path
    id: str
    pid: int
    status: str


def runc_roots(data_dir: Path, max_depth: int = 4) -> list[Path]:
    """Directories under the nodes' data dirs that hold runc state (`<root>/<id>/state.json`)."""
    nodes = data_dir / "nodes"
    roots: set[Path] = set()
    if not nodes.is_dir():
        return []
    base_depth = len(nodes.parts)
    for dirpath, dirnames, filenames in os.walk(nodes):
        here = Path(dirpath)
        depth = len(here.parts) - base_depth
        if "state.json" in filenames and depth >= 2:
            roots.add(here.parent)
            dirnames[:] = []
            continue
        # Do not descend into container root filesystems or pod volumes.
        dirnames[:] = [d for d in dirnames if d not in ("rootfs", "merged", "upper", "layers", "blobs")]
        if depth >= max_depth:
            dirnames[:] = []
    return sorted(roots)


def runc_list(root: Path) -> list[RuncContainer]:
    if shutil.which("runc") is None:
        return []
    try:
        proc = subprocess.run(["runc", "--root", str(root), "list", "-f", "json"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    try:
        items = json.loads(proc.stdout or "null") or []
    except ValueError:
        return []
    return [RuncContainer(root, str(i.get("id", "")), int(i.get("pid", 0) or 0), str(i.get("status", "")))
            for i in items if i.get("id")]


def remove_runc_containers(data_dir: Path) -> list[str]:
    """Kill and delete every runc container under the cluster's node dirs; returns their ids."""
    removed: list[str] = []
    for root in runc_roots(data_dir):
        for c in runc_list(root):
            base = ["runc", "--root", str(root)]
            if c.status in ("running", "paused", "created"):
                subprocess.run([*base, "kill", c.id, "KILL"], capture_output=True, timeout=30)
            subprocess.run([*base, "delete", "--force", c.id], capture_output=True, timeout=30)
            removed.append(c.id)
    return removed


def remaining_runc_containers(data_dir: Path) -> list[str]:
    return [f"{c.id} ({c.status})" for root in runc_roots(data_dir) for c in runc_list(root)]


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory` in this mount namespace, deepest first."""
    found = overlay.mounts_under(directory.resolve())
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all(directory: Path) -> list[str]:
    """Lazily unmount everything under `directory`; returns what could not be unmounted.

    With umount2(2), as the kubelet unmounts: a cluster leaves 5-6 mounts per pod (170 for 30), and a
    `umount` process for each was most of what `kubelite down` spent on them."""
    for _ in range(5):
        targets = mounts_under(directory)
        if not targets:
            return []
        for target in targets:
            with contextlib.suppress(OSError):
                overlay.unmount(Path(target))
    return mounts_under(directory)


def processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment contains `marker` (e.g. KUBELITE_CLUSTER_DIR=...)."""
    return live_pids_with(marker, "environ")


def kill_cluster_processes(data_dir: Path) -> list[int]:
    """SIGKILL whatever still runs with the cluster's marker (conmon monitors, stray daemons)."""
    pids = processes_with_env(f"{CLUSTER_ENV}={data_dir}")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def stop_ingress_nginx(data_dir: Path, timeout: float = 5.0) -> list[int]:
    """Stop nginx masters left by a killed ingress agent (found by their `-p <data_dir>/ingress/` prefix).

    Why by command line: nginx clears its environment, so the cluster marker
    does not find it. SIGTERM lets the master stop its workers; SIGKILL follows
    for a master (and its workers) that outlives `timeout`.
    """
    import time

    masters = [pid for pid in live_pids_with(f"{data_dir}/ingress/") if _is_nginx_master(pid)]
    for pid in masters:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_is_nginx_master(pid) for pid in masters):
        time.sleep(0.1)
    for pid in masters:
        if _is_nginx_master(pid):
            for child in _children(pid):
                _signal(child, signal.SIGKILL)
            _signal(pid, signal.SIGKILL)
    return masters


def _is_nginx_master(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"nginx: master")
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


CGROUP_ROOT = Path("/sys/fs/cgroup")


def remove_cgroups(node_names: list[str], parent: str = "kubelite") -> list[str]:
    """rmdir the nodes' (now empty) cgroups `<controller>/<parent>/<node>/...`, then `parent` and its
    own parents when empty (`up` gives each cluster the parent `kubelite/<cluster>`).

    `runc delete` leaves parent directories behind. Only empty directories can be
    removed, so a cgroup still in use (another cluster's) is never disturbed; returns
    the directories that could not be removed.
    """
    left: list[str] = []
    if not CGROUP_ROOT.is_dir():
        return left
    for controller in CGROUP_ROOT.iterdir():
        base = controller / parent
        for node in node_names:
            top = base / node
            if not top.is_dir():
                continue
            # os.walk skips what vanishes while it looks (a pod cgroup removed at the same moment);
            # rglob raised FileNotFoundError.
            dirs = [Path(root) for root, _, _ in os.walk(top, topdown=False)]
            for d in dirs:
                try:
                    d.rmdir()
                except OSError:
                    left.append(str(d))
        while base != controller:
            try:
                base.rmdir()  # only when no other cluster uses it
            except OSError:
                break
            base = base.parent
    return left


def remove_host_pod_network(bridge: str, masquerade_comment: str) -> list[str]:
    """The pod network a kubelet made in its own (the machine's) namespace: the CNI bridge and the
    masquerade rule for its pods. A `kubelite up` node's namespace takes them along when deleted;
    a joined machine's namespace stays, so `leave` removes them. Returns what is left."""
    problems: list[str] = []
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, timeout=30)
    for line in saved.stdout.splitlines():
        if line.startswith("-A ") and f'"{masquerade_comment}"' in line:
            spec = shlex.split(line)[1:]
            done = subprocess.run(["iptables", "-w", "-t", "nat", "-D", *spec], capture_output=True, text=True,
                                  timeout=30)
            if done.returncode != 0:
                problems.append(f"iptables rule {line}: {done.stderr.strip()}")
    if subprocess.run(["ip", "link", "show", bridge], capture_output=True, timeout=30).returncode == 0:
        done = subprocess.run(["ip", "link", "del", bridge], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            problems.append(f"bridge {bridge}: {done.stderr.strip()}")
    return problems
