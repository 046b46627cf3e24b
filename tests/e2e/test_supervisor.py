"""The supervisor brings back whatever dies: kill -9 each kind of component while a client loops requests.

Process runtime (no Services there), so the client loops requests through the API: components
that are not on the request path (scheduler, controller-manager, a kubelet) must cost 0 failed
requests; the apiserver and a kvstore member are on it, so for them only the recovery is checked
and the failures are printed. Then `kubelite down` must leave nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite.api import Node
from kubelite.client import ApiClient
from tests.e2e.cluster import LocalCluster, leftovers, random_port_offset, wait_for
from tests.e2e.conftest import bring_up, tear_down


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("supervised"), nodes=1,
                     port_offset=random_port_offset(), kv_members=3)
    bring_up(c)
    try:
        yield c
    finally:
        tear_down(c)


class ApiLoop:
    """A client listing Nodes in a loop on its own thread; counts answers and failures."""

    def __init__(self, c: LocalCluster) -> None:
        self.c = c
        self.ok = 0
        self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        client = ApiClient.connect(self.c.server, credentials=self.c.credentials())
        try:
            while not self.stop.is_set():
                try:
                    await asyncio.wait_for(client.list(Node), 5)
                    self.ok += 1
                except Exception:  # any failure is what is counted
                    self.failed += 1
                await asyncio.sleep(0.05)
        finally:
            await client.close()

    def __enter__(self) -> ApiLoop:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(15)


@pytest.mark.parametrize(("name", "on_request_path"), [
    ("scheduler", False), ("controller-manager", False), ("kubelet-node-1", False),
    ("kvstore-2", True), ("apiserver", True),
])
def test_a_killed_component_is_back_healthy_within_10s(supervised: LocalCluster, name: str,
                                                       on_request_path: bool) -> None:
    c = supervised
    before = c.supervised(name)
    with ApiLoop(c) as client:
        wait_for(lambda: client.ok >= 3, 20, "the client's first answers")
        os.kill(int(before["pid"]), signal.SIGKILL)
        t0 = time.monotonic()
        wait_for(lambda: c.restarted_and_ready(name, int(before["pid"])), 10, f"{name} to be restarted and ready")
        back = time.monotonic() - t0
        ok_at_recovery = client.ok
        wait_for(lambda: client.ok >= ok_at_recovery + 3, 20, "the client to get answers again")
    after = c.supervised(name)
    print(f"{name}: back in {back:.1f}s; client {client.ok} ok, {client.failed} failed")
    assert after["restarts"] == before["restarts"] + 1
    assert after["last_exit"] == "signal 9 (SIGKILL)"
    if not on_request_path:
        assert client.failed == 0, f"{client.failed} requests failed while {name} was down"
    status = c.kubelite("status", "--data-dir", str(c.data_dir))
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith(name + " "))
    assert "Running" in line and "signal 9 (SIGKILL)" in line and f" {after['restarts']} " in line, status.stdout


def test_restart_command_and_bad_name(supervised: LocalCluster) -> None:
    c = supervised
    before = c.supervised("scheduler")
    c.restart_component("scheduler")
    wait_for(lambda: c.restarted_and_ready("scheduler", int(before["pid"])), 10, "the restarted scheduler to be ready")
    bad = c.kubelite("restart", "no-such-thing", "--data-dir", str(c.data_dir))
    assert bad.returncode == 1 and "no component 'no-such-thing'" in bad.stderr
    assert (c.data_dir / "supervisor.sock").stat().st_mode & 0o777 == 0o600


def test_an_added_node_is_supervised_too(supervised: LocalCluster) -> None:
    c = supervised
    name = f"kubelet-{c.add_node()}"
    before = c.supervised(name)
    os.kill(int(before["pid"]), signal.SIGKILL)
    wait_for(lambda: c.restarted_and_ready(name, int(before["pid"])), 10, f"the added {name} to be restarted")
    assert c.supervised(name)["restarts"] == 1


def test_down_right_after_leaves_nothing_and_up_resumes(supervised: LocalCluster) -> None:
    c = supervised
    c.kctl_ok("create", "configmap", "kept", "--from-literal", "k=v")
    down = c.kubelite("down", "--data-dir", str(c.data_dir), "--grace", "20")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no process, mount, container, namespace or rule of it is left" in down.stdout
    assert leftovers(c) == []
    assert not Path(c.data_dir / "cluster.json").exists()
    up = c.kubelite(*c.up_args(), timeout=240)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"Resuming the cluster in {c.data_dir}" in up.stdout
    assert "v" == c.kctl_ok("get", "configmap", "kept", "-o", "jsonpath={.data.k}").strip()
