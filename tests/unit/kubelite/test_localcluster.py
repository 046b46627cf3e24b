"""`kubelite up` planning and the process helpers `down` relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubelite.localcluster import RunningProcess, load_state, plan_cluster, save_state
from kubelite.procs import is_same_process_alive, process_start_ticks, stop_process


def test_plan_starts_storage_first_and_gives_each_node_its_own_address(tmp_path: Path) -> None:
    plan = plan_cluster(tmp_path, nodes=3, port_offset=100)
    names = [c.name for c in plan.components]
    assert names[:4] == ["kvstore", "apiserver", "scheduler", "controller-manager"]
    assert names[4:] == ["kubelet-node-1", "kubelet-node-2", "kubelet-node-3"]
    assert plan.server == "127.0.0.1:6543"
    kubelet_listens = [c.argv[c.argv.index("--listen") + 1] for c in plan.components[4:]]
    assert len(set(kubelet_listens)) == 3, "kubelets must not share an address"
    health = [c.health for c in plan.components]
    assert len(set(health)) == len(health)
    api = plan.components[1]
    assert api.argv[api.argv.index("--etcd-servers") + 1] == "127.0.0.1:2479"
    assert api.argv[api.argv.index("--encryption-provider-config") + 1] == str(tmp_path / "encryption-config.yaml")


def test_state_round_trips(tmp_path: Path) -> None:
    procs = [RunningProcess("kvstore", 123, 456, "127.0.0.1:2381")]
    save_state(tmp_path, "127.0.0.1:6443", procs)
    assert load_state(tmp_path) == ("127.0.0.1:6443", procs)


async def test_stop_process_terminates_and_never_signals_a_reused_pid() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    ticks = process_start_ticks(proc.pid)
    assert ticks is not None and is_same_process_alive(proc.pid, ticks)
    # A wrong start time means "some other process now owns this pid": leave it alone.
    assert await stop_process(proc.pid, ticks + 1, 1.0) is False
    assert proc.poll() is None
    assert await stop_process(proc.pid, ticks, 5.0) is False  # exits on SIGTERM, no SIGKILL needed
    assert not is_same_process_alive(proc.pid, ticks)


async def test_stop_process_kills_what_ignores_sigterm() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    ticks = process_start_ticks(proc.pid)
    assert ticks is not None
    assert await stop_process(proc.pid, ticks, 0.3) is True
    assert not is_same_process_alive(proc.pid, ticks)


def test_each_kvstore_members_raft_port_is_unused_by_the_rest_of_the_plan(tmp_path: Path) -> None:
    """Members derive each other's Raft stream port from the peer URL (peer port + 2): with any
    offset and member count, that port must not be one `up` gives to anything else."""
    import re

    from kvstore.raftstream import raft_port

    for members in (3, 5):
        for offset in (0, 700, 12_340):
            plan = plan_cluster(tmp_path, nodes=3, port_offset=offset, runtime="runc", net_id=3,
                                kv_members=members, registry=True)
            argvs = [c.argv for c in plan.components]
            planned = {int(p) for argv in argvs for arg in argv for p in re.findall(r"[0-9.]+:(\d+)", arg)}
            planned |= {int(argv[i + 1]) for argv in argvs for i, a in enumerate(argv) if a == "--secure-port"}
            raft = [raft_port(int(argv[i + 1].rpartition(":")[2]))
                    for argv in argvs for i, a in enumerate(argv) if a == "--listen-peer"]
            assert len(raft) == members and len(set(raft)) == members
            assert not set(raft) & planned, (members, offset, sorted(set(raft) & planned))


def test_kvstore_members_beat_every_200_ms_within_etcds_election_rule(tmp_path: Path) -> None:
    """`up`'s members heartbeat less often than etcd's default (idle CPU), and the flags they get
    still make a valid etcd timing: election timeout at least five heartbeats."""
    from kvstore.main import _parser, raft_timing

    plan = plan_cluster(tmp_path, nodes=2, port_offset=0, kv_members=3)
    members = [c for c in plan.components if c.name.startswith("kvstore-")]
    assert len(members) == 3
    for member in members:
        args = _parser().parse_args(member.argv[1:])
        assert args.heartbeat_interval == 200
        assert args.election_timeout >= 5 * args.heartbeat_interval
        timing = raft_timing(args.heartbeat_interval, args.election_timeout)
        assert timing.tick_seconds * timing.heartbeat_ticks == 0.2
