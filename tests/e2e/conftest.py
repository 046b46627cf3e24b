"""The `cluster` fixture: one `kubelite up` cluster per test module.

Each module gets its own cluster in a temporary data directory, on ports
shifted by a random offset so runs never collide with a user's cluster or with
each other; teardown runs `kubelite down` and fails the run if anything the
cluster started is still alive.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import LocalCluster, processes_with_env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    offset = random.Random().randrange(10_000, 50_000, 10)
    c = LocalCluster(data_dir, nodes=2, port_offset=offset)
    up = c.kubelite("up", "--nodes", "2", "--data-dir", str(data_dir), "--port-offset", str(offset),
                    "--config-out", str(data_dir / "config"))
    if up.returncode != 0:
        c.kubelite("down", "--data-dir", str(data_dir))
        pytest.fail(f"kubelite up failed:\n{up.stdout}\n{up.stderr}")
    try:
        yield c
    finally:
        down = c.kubelite("down", "--data-dir", str(data_dir), "--grace", "20")
        leftovers = processes_with_env(f"KUBELITE_CLUSTER_DIR={data_dir}")
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert down.returncode == 0, f"kubelite down failed:\n{down.stdout}\n{down.stderr}"
        assert not leftovers, f"processes left after kubelite down: {leftovers}"
