"""OCI runtime spec generation: the image/pod merge rules and what isolation a container gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelet.main import select_runtime
from kubelet.runc.bundle import (
    DEFAULT_CAPS,
    DEFAULT_PATH,
    ImageProcess,
    SpecInputs,
    UserError,
    cpu_shares,
    merge_argv,
    merge_env,
    resolve_user,
    runtime_spec,
)
from kubelet.runc.conmon import ConmonError, parse_sync
from kubelet.runc.sandbox import SandboxRecord, hosts_file, resolv_conf
from kubelet.runtime import DnsConfig, Mount, PodSandboxConfig, PortMapping, Resources, Security

IMAGE = ImageProcess(entrypoint=["/entry"], cmd=["default-arg"], env=["PATH=/img/bin", "A=image"])
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\ndocker:x:999:other\n"


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ([], [], ["/entry", "default-arg"]),  # image decides everything
        ([], ["mine"], ["/entry", "mine"]),  # args replace CMD only
        (["/bin/x"], [], ["/bin/x"]),  # command replaces ENTRYPOINT and drops CMD
        (["/bin/x"], ["a", "b"], ["/bin/x", "a", "b"]),
    ],
)
def test_command_and_args_merge_with_the_image_like_kubernetes(
    command: list[str], args: list[str], expected: list[str]
) -> None:
    assert merge_argv(command, args, IMAGE) == expected


def test_env_defaults_then_image_then_pod() -> None:
    env = merge_env(["PATH=/img/bin", "A=image", "B=image", "NOVALUE"], {"B": "pod", "C": "pod"}, "web-1")
    assert env == ["PATH=/img/bin", "HOSTNAME=web-1", "A=image", "B=pod", "NOVALUE=", "C=pod"]
    assert merge_env([], {}, "")[0] == f"PATH={DEFAULT_PATH}"


@pytest.mark.parametrize(
    ("image_user", "security", "expected"),
    [
        ("", Security(), (0, 0, [])),
        ("app", Security(), (1000, 1001, [10])),
        ("1000", Security(), (1000, 1001, [10])),
        ("app:docker", Security(), (1000, 999, [10])),
        ("4242:7", Security(), (4242, 7, [])),
        ("app", Security(run_as_user=0), (0, 0, [])),  # runAsUser wins over the image's USER
        ("", Security(run_as_user=1000, run_as_group=5), (1000, 5, [10])),
        ("app:docker", Security(run_as_group=3), (1000, 3, [10])),
    ],
)
def test_user_resolution(image_user: str, security: Security, expected: tuple[int, int, list[int]]) -> None:
    uid, gid, extra = resolve_user(image_user, security, PASSWD, GROUP)
    assert (uid, gid, sorted(extra)) == (expected[0], expected[1], sorted(expected[2]))


def test_unknown_user_or_group_names_are_errors() -> None:
    with pytest.raises(UserError, match="nobody-here"):
        resolve_user("nobody-here", Security(), PASSWD, GROUP)
    with pytest.raises(UserError, match="nogroup"):
        resolve_user("app:nogroup", Security(), PASSWD, None)


def inputs(**kw: Any) -> SpecInputs:
    base: dict[str, Any] = dict(
        argv=["/bin/sh"], env=["PATH=/bin"], cwd="/work", uid=0, gid=0, additional_gids=[],
        cgroups_path="/kubelite/node-1/abc", mounts=[], netns_path="/state/sb/net", ipc_path="/state/sb/ipc",
        uts_path="/state/sb/uts", shm_path="/state/sb/shm",
    )
    base.update(kw)
    return SpecInputs(**base)


def test_namespaces_join_the_pod_and_keep_pid_and_mount_private() -> None:
    spec = runtime_spec(inputs())
    assert spec["linux"]["namespaces"] == [
        {"type": "pid"}, {"type": "mount"}, {"type": "ipc", "path": "/state/sb/ipc"},
        {"type": "uts", "path": "/state/sb/uts"}, {"type": "network", "path": "/state/sb/net"},
    ]
    assert "hostname" not in spec  # set once in the pod's UTS namespace
    host_net = runtime_spec(inputs(netns_path=None, uts_path=None))
    assert [n["type"] for n in host_net["linux"]["namespaces"]] == ["pid", "mount", "ipc"]


def test_mounts_cover_the_system_the_pod_files_and_volumes() -> None:
    spec = runtime_spec(inputs(mounts=[Mount("/state/sb/hosts", "/etc/hosts"), Mount("/vol", "/data", True)]))
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts", "/data"):
        assert dest in by_dest
    assert by_dest["/dev/shm"]["source"] == "/state/sb/shm"
    assert "ro" in by_dest["/data"]["options"] and "rw" in by_dest["/etc/hosts"]["options"]
    assert "ro" in by_dest["/sys"]["options"]
    assert [m["destination"] for m in spec["mounts"]][-2:] == ["/etc/hosts", "/data"]  # volumes last, in order


def test_resources_become_cgroup_limits() -> None:
    spec = runtime_spec(inputs(resources=Resources(cpu_millis_limit=250, memory_limit_bytes=64 << 20,
                                                   cpu_millis_request=100)))
    res = spec["linux"]["resources"]
    assert res["cpu"] == {"shares": 102, "quota": 25000, "period": 100000}
    assert res["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert spec["linux"]["cgroupsPath"] == "/kubelite/node-1/abc"
    assert cpu_shares(0) == 2 and cpu_shares(1000) == 1024
    assert "memory" not in runtime_spec(inputs())["linux"]["resources"]


def test_security_defaults_and_privileges() -> None:
    spec = runtime_spec(inputs(security=Security(read_only_root_fs=True)))
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["capabilities"]["bounding"] == list(DEFAULT_CAPS)
    assert "CAP_SYS_ADMIN" not in spec["process"]["capabilities"]["effective"]
    assert "/proc/kcore" in spec["linux"]["maskedPaths"] and "/proc/sys" in spec["linux"]["readonlyPaths"]
    non_root = runtime_spec(inputs(uid=1000, gid=1000, additional_gids=[10]))
    assert non_root["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    assert non_root["process"]["capabilities"]["effective"] == []
    privileged = runtime_spec(inputs(security=Security(privileged=True)))
    assert "CAP_SYS_ADMIN" in privileged["process"]["capabilities"]["effective"]
    assert "maskedPaths" not in privileged["linux"]


def test_no_command_at_all_is_an_error() -> None:
    with pytest.raises(ValueError, match="no command"):
        runtime_spec(inputs(argv=[]))


def test_conmon_sync_messages() -> None:
    assert parse_sync(b'{"data": 4242}\n') == 4242
    with pytest.raises(ConmonError, match='exec: "nope": executable file not found'):
        parse_sync(b'{"data": -1, "message": "time=\\"x\\" level=error msg=\\"runc create failed: exec: '
                   b'\\\\\\"nope\\\\\\": executable file not found\\"\\n"}\n')
    with pytest.raises(ConmonError, match="without reporting"):
        parse_sync(b"")


def test_runtime_selection() -> None:
    assert select_runtime("auto", None) == ("runc", None)
    name, message = select_runtime("auto", "not running as root")
    assert name == "process" and message is not None and "not running as root" in message
    assert select_runtime("process", None) == ("process", None)
    name, message = select_runtime("runc", "'conmon' not found on PATH")
    assert name == "" and message is not None and "conmon" in message


def test_pod_files_and_sandbox_record_round_trip(tmp_path: Path) -> None:
    assert "10.244.1.5\tweb-0" in hosts_file("web-0", "10.244.1.5")
    assert "web-0" not in hosts_file("web-0", "")
    aliased = hosts_file("web-0", "10.244.1.5", [("10.1.2.3", ["db", "db.local"]), ("::1", ["me"])])
    assert aliased.endswith("# Entries added by HostAliases.\n10.1.2.3\tdb\tdb.local\n::1\tme\n")
    dns = DnsConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local", "svc.cluster.local"],
                    options=["ndots:5"])
    assert resolv_conf(dns, "nameserver 1.1.1.1\n") == (
        "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    assert resolv_conf(None, "nameserver 1.1.1.1\n") == "nameserver 1.1.1.1\n"
    config = PodSandboxConfig("web-0", "prod", "u-1", tmp_path / "logs", tmp_path / "work", hostname="",
                              dns=dns, port_mappings=[PortMapping(80, 8080, "TCP", "")], host_network=False,
                              host_aliases=[("10.1.2.3", ["db", "db.local"])])
    rec = SandboxRecord("sid", config, tmp_path, ip="10.244.1.5", created_at=12.5)
    back = SandboxRecord.from_json(rec.to_json(), tmp_path)
    assert (back.config, back.ip, back.ready, back.created_at) == (config, "10.244.1.5", True, 12.5)
    assert back.hostname == "web-0" and back.netns_path == str(tmp_path / "net")
