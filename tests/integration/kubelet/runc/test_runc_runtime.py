"""The runc runtime with real runc + conmon (root only): isolation, pod sharing, limits,
exit codes, stop escalation, exec, CRI logs, re-adoption and a clean removal."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kubelet.crilog import parse_line
from kubelet.runc import RuncRuntime, cleanup_node
from kubelet.runc.overlay import mounts_under
from kubelet.runtime import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    Mount,
    PodSandboxConfig,
    PortMapping,
    Resources,
    Security,
    StartContainerError,
)
from tests.integration.kubelet.runc.conftest import (
    REASON,
    Env,
    FakeImage,
    FakeImageConfig,
    cgroup_children,
    runc_list,
)
from tests.polling import eventually

pytestmark = [pytest.mark.requires_root("runc containers, overlay mounts, cgroups"),
              pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


async def sandbox(rt: RuncRuntime, base: Path, name: str = "web", uid: str = "uid-1", **kw: object) -> str:
    cfg = PodSandboxConfig(name, "default", uid, base / f"logs-{uid}", base / f"work-{uid}", **kw)  # type: ignore[arg-type]
    return await rt.run_pod_sandbox(cfg)


async def run(rt: RuncRuntime, sid: str, script: str, name: str = "c", **kw: object) -> str:
    cfg = ContainerConfig(name=name, image="busybox", command=["sh", "-c", script], log_path=f"{name}/0.log",
                          **kw)  # type: ignore[arg-type]
    cid = await rt.create_container(sid, cfg)
    await rt.start_container(cid)
    return cid


async def exited(rt: RuncRuntime, cid: str, timeout: float = 15.0) -> ContainerStatus:
    async def done() -> bool:
        return (await rt.container_status(cid)).state is ContainerState.EXITED

    await until(done, timeout, "container exit")
    return await rt.container_status(cid)


async def sh(rt: RuncRuntime, cid: str, script: str) -> str:
    result = await rt.exec_sync(cid, ["sh", "-c", script], 10)
    assert result.exit_code == 0, result
    return result.stdout.decode().strip()


def own_namespaces() -> set[str]:
    """The net/uts/ipc namespaces of every thread of this process.

    A thread (of the default executor, say) may exit between listing and reading: it is skipped, since a
    thread that is gone cannot be left inside a sandbox's namespaces.
    """
    found: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        for kind in ("net", "uts", "ipc"):
            try:
                found.add(os.readlink(task / "ns" / kind))
            except FileNotFoundError:
                continue
    return found


async def test_container_sees_its_own_pid_1_hostname_and_rootfs(env: Env) -> None:
    rt = await env.runtime()
    before = own_namespaces()
    sid = await sandbox(rt, env.base, name="isolated-pod")
    # The sandbox's namespaces are made by a thread of this process: none of its threads stays in them.
    # That thread hands the result to the loop and then exits: it may be leaving while we look.
    async def left() -> bool:
        return own_namespaces() == before

    await eventually(left, "the namespace-making thread to leave the sandbox's namespaces", timeout=5, interval=0.01)
    assert os.uname().nodename != "isolated-pod"
    cid = await run(rt, sid, "sleep 30")
    assert await sh(rt, cid, "cat /proc/1/cmdline | tr '\\0' ' '") == "sleep 30"  # sh execs its last command
    assert await sh(rt, cid, "hostname; cat /etc/hostname") == "isolated-pod\nisolated-pod"
    assert await sh(rt, cid, "echo $HOSTNAME $FROM_IMAGE") == "isolated-pod yes"
    root = (await sh(rt, cid, "ls /")).split()
    assert "bin" in root and "work" not in root and "usr" not in root  # the image's tree, not the host's
    assert await sh(rt, cid, "(echo x > /proc/sys/kernel/hostname) 2>/dev/null || echo ro") == "ro"
    status = await rt.container_status(cid)
    assert status.state is ContainerState.RUNNING and status.uri == f"runc://{cid}" and status.pid > 1


async def test_two_containers_of_a_pod_share_localhost_ipc_and_hostname(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base, name="shared")
    server = await run(rt, sid, "mkdir /www && echo hello-from-a > /www/index.html && "
                                "exec httpd -f -p 127.0.0.1:8080 -h /www", name="a")
    client = await run(rt, sid, "sleep 30", name="b")

    async def fetched() -> bool:
        r = await rt.exec_sync(client, ["timeout", "3", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"], 10)
        return r.stdout == b"hello-from-a\n"

    await until(fetched, what="b reaching a over localhost")
    ns = "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"
    a_ns, b_ns = (await sh(rt, server, ns)).split(), (await sh(rt, client, ns)).split()
    assert a_ns[:3] == b_ns[:3] and a_ns[3] != b_ns[3]  # net, ipc, uts shared; pid private
    await sh(rt, server, "echo shm-data > /dev/shm/f")
    assert await sh(rt, client, "cat /dev/shm/f") == "shm-data"


async def test_memory_hog_is_oom_killed(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cid = await run(rt, sid, "tail /dev/zero", resources=Resources(memory_limit_bytes=16 * 1024 * 1024))
    status = await exited(rt, cid, timeout=60)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_exit_codes_and_start_errors(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    seen: list[ContainerStatus] = []
    rt.add_exit_listener(seen.append)
    ok = await run(rt, sid, "exit 0", name="ok")
    bad = await run(rt, sid, "exit 7", name="bad")
    assert ((await exited(rt, ok)).exit_code, (await exited(rt, ok)).reason) == (0, "Completed")
    assert ((await exited(rt, bad)).exit_code, (await exited(rt, bad)).reason) == (7, "Error")
    assert {s.id for s in seen} == {ok, bad}
    missing = await rt.create_container(sid, ContainerConfig("m", "busybox", command=["/no/such/binary"],
                                                             log_path="m/0.log"))
    with pytest.raises(StartContainerError, match="no/such/binary"):
        await rt.start_container(missing)
    status = await rt.container_status(missing)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "StartError")


async def test_stop_is_graceful_then_escalates_to_sigkill(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    polite = await run(rt, sid, "trap 'exit 0' TERM; while true; do sleep 0.1; done", name="polite")
    stubborn = await run(rt, sid, "sleep 300", name="stubborn")  # sh as PID 1 ignores SIGTERM
    t0 = time.monotonic()
    await rt.stop_container(polite, 10)
    assert time.monotonic() - t0 < 5
    assert (await rt.container_status(polite)).exit_code == 0
    t0 = time.monotonic()
    await rt.stop_container(stubborn, 0.5)
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 5
    assert (await rt.container_status(stubborn)).exit_code == 137


async def test_exec_sync_and_exec_stream(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cid = await run(rt, sid, "sleep 30", env={"GREETING": "hello"})
    result = await rt.exec_sync(cid, ["sh", "-c", "echo $GREETING; echo oops >&2; exit 4"], 10)
    assert (result.exit_code, result.stdout, result.stderr) == (4, b"hello\n", b"oops\n")
    with pytest.raises(TimeoutError):
        await rt.exec_sync(cid, ["sleep", "31"], 0.3)
    assert "sleep 31" not in await sh(rt, cid, "ps -o args")  # the timed-out command was killed
    session = await rt.exec_stream(cid, ["sh", "-c", "read x; echo got-$x; echo err >&2; exit 2"], tty=False)
    await session.write_stdin(b"abc\n")
    chunks = [item async for item in session.output()]
    assert b"".join(c for fd, c in chunks if fd == 1) == b"got-abc\n"
    assert b"".join(c for fd, c in chunks if fd == 2) == b"err\n"
    assert await session.wait() == 2
    tty = await rt.exec_stream(cid, ["sh", "-c", "test -t 0 && echo is-a-tty"], tty=True)
    out = b"".join([c async for _, c in tty.output()])
    assert b"is-a-tty" in out and await tty.wait() == 0
    assert list((env.state / "exec").iterdir()) == []


async def test_logs_are_written_by_conmon_in_cri_format(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cid = await run(rt, sid, "echo out-line; echo err-line >&2; printf partial")
    await exited(rt, cid)
    path = rt.container_log_path(cid)
    assert path == env.base / "logs-uid-1" / "c" / "0.log"
    entries = [parse_line(line) for line in path.read_bytes().splitlines()]
    assert all(e is not None for e in entries)
    got = [(e.stream, e.content) for e in entries if e and not e.partial]
    assert (b"stdout", b"out-line") in got and (b"stderr", b"err-line") in got
    assert b"partial" in b"".join(e.content for e in entries if e)


async def test_a_second_runtime_re_adopts_running_and_exited_containers(env: Env) -> None:
    first = await env.runtime()
    sid = await sandbox(first, env.base, name="survivor")
    keep = await run(first, sid, "sleep 300", name="keep")
    quits = await run(first, sid, "sleep 0.5; exit 5", name="quits")
    pid = (await first.container_status(keep)).pid
    await first.shutdown(0)  # the kubelet goes away; conmon keeps the containers
    await until(lambda: asyncio.sleep(0, (env.state / "exits" / quits).exists()), what="exit while no kubelet")

    second = await env.runtime()
    [sbx] = await second.list_pod_sandboxes()
    assert (sbx.id, sbx.name, sbx.uid, sbx.ready) == (sid, "survivor", "uid-1", True)
    statuses = {s.name: s for s in await second.list_containers(sid)}
    assert statuses["keep"].state is ContainerState.RUNNING and statuses["keep"].pid == pid
    assert (statuses["quits"].state, statuses["quits"].exit_code) == (ContainerState.EXITED, 5)
    assert await sh(second, keep, "echo still-here") == "still-here"
    await second.stop_container(keep, 0)
    assert (await second.container_status(keep)).exit_code == 137


async def test_remove_leaves_no_mounts_cgroups_namespaces_or_runc_containers(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cids = [await run(rt, sid, "sleep 30", name=n, resources=Resources(cpu_millis_limit=500)) for n in ("a", "b")]
    cg = Path("/sys/fs/cgroup/cpu") / rt.pod_cgroup(sid) / cids[0]
    assert (cg / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert len(mounts_under(env.state)) == 6  # net, ipc, uts, shm, two rootfs
    await rt.stop_pod_sandbox(sid, 0)
    await rt.remove_pod_sandbox(sid)
    assert mounts_under(env.base) == []
    assert runc_list(env.state / "runc") == []
    assert cgroup_children(env.cgroup_parent) == []
    assert list((env.state / "sandboxes").iterdir()) == [] and list((env.state / "containers").iterdir()) == []
    assert list((env.state / "exits").iterdir()) == []
    assert not (env.base / "logs-uid-1").exists()
    assert await rt.list_pod_sandboxes() == [] and await rt.list_containers() == []


async def test_security_context_user_and_read_only_rootfs(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    as_app = await run(rt, sid, "sleep 30", name="app", security=Security(run_as_user=1000, read_only_root_fs=True))
    assert await sh(rt, as_app, "id -u; id -g; id -G") == "1000\n1000\n1000 2000"
    r = await rt.exec_sync(as_app, ["sh", "-c", "touch /x"], 10)
    assert r.exit_code != 0 and b"Read-only" in r.stderr
    assert await sh(rt, as_app, "touch /dev/shm/ok && echo writable") == "writable"
    env.images["app-image"] = FakeImage(env.images["busybox"].layer_dirs, FakeImageConfig(user="app:extra"))
    cid = await rt.create_container(sid, ContainerConfig("img", "app-image", command=["sleep", "30"],
                                                         log_path="img/0.log"))
    await rt.start_container(cid)
    assert await sh(rt, cid, "id -u; id -g") == "1000\n2000"


async def test_image_entrypoint_cmd_workdir_layers_and_mounts(env: Env, tmp_path: Path) -> None:
    top = tmp_path / "top-layer"
    (top / "srv").mkdir(parents=True)
    (top / "srv" / "motd").write_text("from-top\n")
    env.images["app"] = FakeImage([env.layer, top], FakeImageConfig(
        entrypoint=["sh", "-c"], cmd=["echo cmd-ran; pwd; cat motd; cat /data/in; echo out > /data/out"],
        working_dir="/srv",
    ))
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from-host\n")
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cid = await rt.create_container(sid, ContainerConfig("c", "app", mounts=[Mount(str(data), "/data")],
                                                         log_path="c/0.log"))
    await rt.start_container(cid)
    assert (await exited(rt, cid)).exit_code == 0
    text = rt.container_log_path(cid).read_text()
    for line in ("cmd-ran", "/srv", "from-top", "from-host"):
        assert f" F {line}\n" in text
    assert (data / "out").read_text() == "out\n"
    ro = await rt.create_container(sid, ContainerConfig("ro", "busybox", command=["sh", "-c", "echo x > /data/y"],
                                                       mounts=[Mount(str(data), "/data", readonly=True)],
                                                       log_path="ro/0.log"))
    await rt.start_container(ro)
    assert (await exited(rt, ro)).exit_code != 0 and not (data / "y").exists()


class FakeNetwork:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def add(self, container_id: str, netns_path: str, ifname: str = "eth0",
                  port_mappings: object = (), pod_name: str = "", pod_namespace: str = "",
                  loopback: bool = True) -> str:
        assert os.path.exists(netns_path) and pod_name == "net-pod"
        assert not loopback, "the runtime brings lo up itself: the loopback plugin must not run"
        self.calls.append(("add", container_id, netns_path))
        return "10.244.1.7"

    async def delete(self, container_id: str, netns_path: str, ifname: str = "eth0") -> None:
        self.calls.append(("delete", container_id, netns_path))


async def test_pod_network_is_attached_and_released(env: Env) -> None:
    net = FakeNetwork()
    rt = RuncRuntime(env.state, env.resolve, net, cgroup_parent=env.cgroup_parent, poll_interval=0.05)
    await rt.start()
    env.runtimes.append(rt)
    sid = await sandbox(rt, env.base, name="net-pod", port_mappings=[PortMapping(80, 8080)])
    status = await rt.pod_sandbox_status(sid)
    assert (status.ip, status.ready) == ("10.244.1.7", True) and status.netns_path.endswith("/net")
    cid = await run(rt, sid, "sleep 30")
    assert "10.244.1.7\tnet-pod" in await sh(rt, cid, "cat /etc/hosts")
    await rt.stop_pod_sandbox(sid, 0)
    assert not (await rt.pod_sandbox_status(sid)).ready
    await rt.remove_pod_sandbox(sid)
    assert [c[0] for c in net.calls][:2] == ["add", "delete"] and {c[1] for c in net.calls} == {sid}


async def test_host_network_pod_shares_the_node_network(env: Env) -> None:
    rt = RuncRuntime(env.state, env.resolve, FakeNetwork(), node_ip="10.88.0.11", cgroup_parent=env.cgroup_parent,
                     poll_interval=0.05)
    await rt.start()
    env.runtimes.append(rt)
    sid = await sandbox(rt, env.base, name="hostnet", host_network=True)
    status = await rt.pod_sandbox_status(sid)
    assert (status.ip, status.netns_path) == ("10.88.0.11", "")
    cid = await run(rt, sid, "sleep 30")
    assert await sh(rt, cid, "readlink /proc/self/ns/net") == os.readlink("/proc/self/ns/net")


async def test_a_stopped_sandbox_is_started_again_with_its_network(env: Env) -> None:
    net = FakeNetwork()
    rt = RuncRuntime(env.state, env.resolve, net, cgroup_parent=env.cgroup_parent, poll_interval=0.05)
    await rt.start()
    env.runtimes.append(rt)
    sid = await sandbox(rt, env.base, name="net-pod")
    await rt.stop_pod_sandbox(sid, 0)
    assert await sandbox(rt, env.base, name="net-pod") == sid
    assert (await rt.pod_sandbox_status(sid)).ready
    assert [c[0] for c in net.calls] == ["add", "delete", "add"]


async def test_cleanup_node_removes_what_a_stopped_kubelet_left_running(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    await run(rt, sid, "sleep 300")
    await rt.shutdown(0)
    env.runtimes.clear()
    await cleanup_node(env.state, cgroup_parent=env.cgroup_parent)
    assert mounts_under(env.base) == [] and runc_list(env.state / "runc") == []
    assert not any((Path("/sys/fs/cgroup") / c / env.cgroup_parent).exists() for c in ("cpu", "memory", "pids"))
