"""securityContext on real runc containers (root only): what a process inside can and cannot do.

Capabilities (the default set lets root chown; dropping CHOWN stops it), the
RuntimeDefault seccomp profile (unshare(2) is refused, Unconfined allows it),
runAsNonRoot against a root image (CreateContainerConfigError with Kubernetes'
message), and the pids limit (a fork loop stops at it, the node keeps working).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubelet.runc.security import ALL_CAPS, DEFAULT_CAPS
from kubelet.runtime import ContainerConfig, CreateContainerConfigError, Security
from tests.integration.kubelet.runc.conftest import REASON, Env, FakeImage, FakeImageConfig
from tests.integration.kubelet.runc.test_runc_runtime import run, sandbox, sh, until

pytestmark = [pytest.mark.requires_root("runc containers, overlay mounts, cgroups"),
              pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")]

CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}


def cap_mask(caps: list[str]) -> int:
    return sum(1 << CAP_NUMBERS[c] for c in caps)


async def test_capabilities_default_set_drop_and_add(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    default = await run(rt, sid, "sleep 30", name="default")
    assert int(await sh(rt, default, "grep CapEff /proc/self/status | cut -f2"), 16) == cap_mask(list(DEFAULT_CAPS))
    assert await sh(rt, default, "touch /tmp/f && chown 1:1 /tmp/f && stat -c %u /tmp/f") == "1"
    dropped = await run(rt, sid, "sleep 30", name="dropped", security=Security(cap_drop=["CHOWN"]))
    r = await rt.exec_sync(dropped, ["sh", "-c", "touch /tmp/f && chown 1:1 /tmp/f"], 10)
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr
    added = await run(rt, sid, "sleep 30", name="added", security=Security(cap_drop=["ALL"], cap_add=["NET_ADMIN"]))
    assert int(await sh(rt, added, "grep CapBnd /proc/self/status | cut -f2"), 16) == cap_mask(["CAP_NET_ADMIN"])
    assert "CAP_SYS_ADMIN" in ALL_CAPS


async def test_runtime_default_seccomp_refuses_unshare_and_unconfined_allows_it(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    confined = await run(rt, sid, "sleep 30", name="confined")
    assert await sh(rt, confined, "grep Seccomp: /proc/self/status | cut -f2") == "2"  # filter mode
    r = await rt.exec_sync(confined, ["unshare", "-U", "true"], 10)
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr
    free = await run(rt, sid, "sleep 30", name="free", security=Security(seccomp="Unconfined"))
    assert await sh(rt, free, "grep Seccomp: /proc/self/status | cut -f2") == "0"
    assert await sh(rt, free, "unshare -U true && echo created") == "created"


async def test_localhost_seccomp_profile_from_the_seccomp_dir(env: Env) -> None:
    rt = await env.runtime(seccomp_dir=env.base / "seccomp")
    (env.base / "seccomp").mkdir()
    (env.base / "seccomp" / "no-mkdir.json").write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], '
        '"action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}')
    sid = await sandbox(rt, env.base)
    cid = await run(rt, sid, "sleep 30", security=Security(seccomp="Localhost", seccomp_localhost="no-mkdir.json"))
    r = await rt.exec_sync(cid, ["mkdir", "/tmp/d"], 10)
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr


async def test_run_as_non_root_refuses_a_root_image(env: Env) -> None:
    rt = await env.runtime()
    sid = await sandbox(rt, env.base)
    cfg = ContainerConfig("main", "busybox", command=["id", "-u"], log_path="main/0.log",
                          security=Security(run_as_non_root=True), pod_ref="web_default(uid-1)")
    with pytest.raises(CreateContainerConfigError) as err:
        await rt.create_container(sid, cfg)
    assert str(err.value) == ('container has runAsNonRoot and image will run as root '
                              '(pod: "web_default(uid-1)", container: main)')
    env.images["named"] = FakeImage(env.images["busybox"].layer_dirs, FakeImageConfig(user="app"))
    with pytest.raises(CreateContainerConfigError, match=r"non-numeric user \(app\)"):
        await rt.create_container(sid, ContainerConfig("main", "named", command=["true"], log_path="main/0.log",
                                                       security=Security(run_as_non_root=True)))
    env.images["numeric"] = FakeImage(env.images["busybox"].layer_dirs, FakeImageConfig(user="1000"))
    cid = await run(rt, sid, "sleep 30", name="ok", security=Security(run_as_non_root=True, run_as_user=1000,
                                                                      supplemental_groups=[3000]))
    assert await sh(rt, cid, "id -u; id -G") == "1000\n1000 2000 3000"
    ok = await rt.create_container(sid, ContainerConfig("num", "numeric", command=["sleep", "30"],
                                                        log_path="num/0.log", security=Security(run_as_non_root=True)))
    await rt.start_container(ok)
    assert await sh(rt, ok, "id -u") == "1000"


async def test_fork_loops_in_two_containers_stop_at_the_pod_pids_limit_together(env: Env) -> None:
    """The limit is the pod's: two forking containers share it, other pods and the node carry on."""
    limit = 64
    rt = await env.runtime(pod_max_pids=limit)
    sid = await sandbox(rt, env.base)
    # Each container wants 40 sleeps (80 > 64 together, each alone far below): an inner shell
    # waits for the go file in the pod's shared /dev/shm, forks until done or refused (ash gives
    # up at a failed fork), and the outer shell then execs into sleep, so nothing restarts.
    loop = "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; i=0; while [ $i -lt 40 ]; do sleep 100 & i=$((i+1)); done"
    bombs = [await run(rt, sid, f"sh -c '{loop}'; exec sleep 3600", name=n) for n in ("bomb-a", "bomb-b")]
    pod = Path("/sys/fs/cgroup/pids") / rt.pod_cgroup(sid)

    async def refused_forks() -> bool:  # the kernel counts refused forks (in the forking task's cgroup on v1)
        return any(int((d / "pids.events").read_text().split()[-1]) > 0 for d in (pod, *(pod / c for c in bombs)))

    assert (pod / "pids.max").read_text().strip() == str(limit)
    await sh(rt, bombs[0], "touch /dev/shm/go")
    await until(refused_forks, 30, "the fork loops to hit the pod's pids limit")
    per_container = [int((pod / cid / "pids.current").read_text()) for cid in bombs]
    assert int((pod / "pids.current").read_text()) <= limit
    assert sum(per_container) <= limit and all(n > 1 for n in per_container), per_container
    # The node is fine: the host forks, another pod's container starts and runs, the bombs can be stopped.
    assert subprocess.run(["true"]).returncode == 0
    other_sid = await sandbox(rt, env.base, name="other", uid="uid-2")
    other = await run(rt, other_sid, "sleep 30", name="other")
    assert await sh(rt, other, "echo alive") == "alive"
    for cid in bombs:
        await rt.stop_container(cid, 0)
        assert (await rt.container_status(cid)).state.value == "exited"
    await rt.remove_pod_sandbox(sid)
    assert not pod.exists(), "the pod cgroup outlived its sandbox"
