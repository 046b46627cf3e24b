"""A pod's network attached while its containers are created (StagedSandboxRuntime), with
real runc + conmon (root only): `runc create` may run before the CNI ADD is done, `runc start`
never does, and a failed network takes the sandbox and what was created in it away."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest

from kubelet.runc import RuncRuntime
from kubelet.runtime import (
    ContainerConfig,
    ContainerState,
    PodSandboxConfig,
    SandboxError,
    StagedSandboxRuntime,
)
from tests.integration.kubelet.runc.conftest import REASON, Env, runc_list

pytestmark = [pytest.mark.requires_root("runc containers, overlay mounts, cgroups"),
              pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")]


class GatedNetwork:
    """A CNI stand-in whose ADD finishes only when the test opens the gate (or fails)."""

    def __init__(self, failure: str = "") -> None:
        self.gate = asyncio.Event()
        self.failure = failure
        self.adding = asyncio.Event()
        self.deleted: list[str] = []

    async def add(self, container_id: str, netns_path: str, ifname: str = "eth0",
                  port_mappings: object = (), pod_name: str = "", pod_namespace: str = "",
                  loopback: bool = True) -> str:
        assert os.path.exists(netns_path)
        self.adding.set()
        await self.gate.wait()
        if self.failure:
            raise RuntimeError(self.failure)
        return "10.244.3.9"

    async def delete(self, container_id: str, netns_path: str, ifname: str = "eth0") -> None:
        self.deleted.append(container_id)


async def staged_runtime(env: Env, net: GatedNetwork) -> RuncRuntime:
    rt = RuncRuntime(env.state, env.resolve, net, cgroup_parent=env.cgroup_parent, poll_interval=0.05)
    await rt.start()
    env.runtimes.append(rt)
    assert isinstance(rt, StagedSandboxRuntime)
    return rt


def runc_status(env: Env, cid: str) -> str:
    out = subprocess.run(["runc", "--root", str(env.state / "runc"), "state", cid], capture_output=True, text=True)
    return str(json.loads(out.stdout)["status"]) if out.returncode == 0 else "absent"


def pod_config(env: Env) -> PodSandboxConfig:
    return PodSandboxConfig("staged", "default", "uid-staged", env.base / "logs", env.base / "work")


def container(name: str = "c") -> ContainerConfig:
    return ContainerConfig(name=name, image="busybox", command=["sh", "-c", "cat /etc/hosts; sleep 30"],
                           log_path=f"{name}/0.log")


async def test_runc_create_overlaps_the_network_and_start_waits_for_it(env: Env) -> None:
    net = GatedNetwork()
    rt = await staged_runtime(env, net)
    sid = await rt.begin_pod_sandbox(pod_config(env))
    await asyncio.wait_for(net.adding.wait(), 10)
    cid = await rt.create_container(sid, container())
    assert runc_status(env, cid) == "created"  # runc create ran while the CNI ADD was still under way
    start = asyncio.create_task(rt.start_container(cid))
    await asyncio.sleep(0.3)  # a window in which a start that did not wait would have run
    assert not start.done() and runc_status(env, cid) == "created"
    net.gate.set()
    await asyncio.wait_for(start, 15)
    status = await rt.container_status(cid)
    assert status.state is ContainerState.RUNNING and runc_status(env, cid) == "running"
    assert (await rt.sandbox_network(sid)).ip == "10.244.3.9"
    # The IP reached the /etc/hosts the container had bound before the network was there.
    result = await rt.exec_sync(cid, ["cat", "/etc/hosts"], 10)
    assert "10.244.3.9\tstaged" in result.stdout.decode()


async def test_a_failed_network_removes_the_sandbox_and_its_created_containers(env: Env) -> None:
    net = GatedNetwork(failure="no IP addresses available")
    rt = await staged_runtime(env, net)
    sid = await rt.begin_pod_sandbox(pod_config(env))
    cid = await rt.create_container(sid, container())
    assert runc_status(env, cid) == "created"
    net.gate.set()
    with pytest.raises(SandboxError, match="no IP addresses available"):
        await rt.sandbox_network(sid)
    assert await rt.list_pod_sandboxes() == [] and await rt.list_containers() == []
    assert runc_list(env.state / "runc") == [] and net.deleted == [sid]
