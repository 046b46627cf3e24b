"""Cluster fixtures: `cluster` (process runtime, 2 nodes) and `runc_cluster` (runc, 3 nodes).

Each is module-scoped: a module's tests share one cluster. Every cluster gets a
temporary data directory, ports shifted by a random offset and (runc) its own
bridge and node namespaces, so runs never collide with a user's cluster or
with each other; teardown runs `kubelite down` and fails the run if anything
the cluster made is left: processes, and for runc also namespaces, mounts,
runc containers and iptables rules.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import (
    LocalCluster,
    free_net_id,
    leftovers,
    processes_with_env,
    random_port_offset,
    runc_unavailable,
)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def bring_up(c: LocalCluster) -> None:
    up = c.kubelite(*c.up_args(), timeout=240)
    if up.returncode != 0:
        c.kubelite("down", "--data-dir", str(c.data_dir))
        pytest.fail(f"kubelite up failed:\n{up.stdout}\n{up.stderr}")


def tear_down(c: LocalCluster) -> None:
    if (c.data_dir / "cluster.json").exists():
        down = c.kubelite("down", "--data-dir", str(c.data_dir), "--grace", "20")
        assert down.returncode == 0, f"kubelite down failed:\n{down.stdout}\n{down.stderr}"
    left = leftovers(c)
    _kill(processes_with_env(f"KUBELITE_CLUSTER_DIR={c.data_dir}"))
    assert not left, f"left behind after kubelite down: {left}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    offset = random_port_offset()
    c = LocalCluster(data_dir, nodes=2, port_offset=offset)
    bring_up(c)
    try:
        yield c
    finally:
        tear_down(c)


@pytest.fixture(scope="module")
def runc_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    # Short path: overlayfs mount options must fit in one page.
    data_dir = Path(tmp_path_factory.mktemp("rc"))
    offset = random_port_offset()
    c = LocalCluster(data_dir, nodes=3, port_offset=offset, runtime="runc", net_id=free_net_id())
    bring_up(c)
    try:
        yield c
    finally:
        tear_down(c)
