"""securityContext -> OCI spec: capabilities, no_new_privs, seccomp, users/groups, pids, runAsNonRoot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubelet.envvars import ConfigError
from kubelet.pod_config import container_config, security
from kubelet.runc.bundle import SpecInputs, resolve_user, runtime_spec
from kubelet.runc.seccomp_default import CLONE_NAMESPACE_FLAGS
from kubelet.runc.security import (
    ALL_CAPS,
    DEFAULT_CAPS,
    SecurityConfigError,
    load_localhost_profile,
    seccomp_section,
    verify_non_root,
)
from kubelet.runtime import Security
from kubelite.api import Pod

POD_REF = "web_prod(u1)"


def spec_of(sec: Security, uid: int = 0, **kw: Any) -> dict[str, Any]:
    return runtime_spec(SpecInputs(argv=["/bin/sh"], env=[], cwd="/", uid=uid, gid=0, additional_gids=[],
                                   cgroups_path="/k/c", mounts=[], security=sec, **kw))


def caps_of(sec: Security) -> list[str]:
    return list(spec_of(sec)["process"]["capabilities"]["bounding"])


@pytest.mark.parametrize(
    ("sec", "expected"),
    [
        (Security(), list(DEFAULT_CAPS)),
        (Security(cap_add=["NET_ADMIN"]), [*DEFAULT_CAPS, "CAP_NET_ADMIN"]),
        (Security(cap_drop=["CHOWN", "net_raw"]), [c for c in DEFAULT_CAPS if c not in ("CAP_CHOWN", "CAP_NET_RAW")]),
        (Security(cap_drop=["ALL"]), []),
        (Security(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"]), ["CAP_NET_BIND_SERVICE"]),
        (Security(cap_add=["ALL"], cap_drop=["CHOWN"]), [c for c in ALL_CAPS if c != "CAP_CHOWN"]),
        (Security(cap_add=["SYS_TIME"], cap_drop=["SYS_TIME"]), list(DEFAULT_CAPS)),  # drop wins
        (Security(privileged=True, cap_drop=["ALL"]), list(ALL_CAPS)),
    ],
)
def test_capabilities_add_drop_all_and_privileged(sec: Security, expected: list[str]) -> None:
    got = caps_of(sec)
    assert sorted(got) == sorted(expected)
    assert spec_of(sec)["process"]["capabilities"]["effective"] == got  # root: effective too


def test_non_root_keeps_only_the_bounding_set_and_unknown_caps_are_refused() -> None:
    spec = spec_of(Security(run_as_user=1000), uid=1000)
    assert spec["process"]["capabilities"]["effective"] == []
    assert spec["process"]["capabilities"]["bounding"] == list(DEFAULT_CAPS)
    with pytest.raises(SecurityConfigError, match="unknown capabilities: CAP_BOGUS"):
        spec_of(Security(cap_add=["BOGUS"]))


@pytest.mark.parametrize(
    ("sec", "nnp"),
    [
        (Security(), True),
        (Security(allow_privilege_escalation=True), False),
        (Security(allow_privilege_escalation=False), True),
        (Security(privileged=True), False),
        (Security(cap_add=["SYS_ADMIN"]), False),
        (Security(cap_add=["SYS_ADMIN"], allow_privilege_escalation=False), True),
    ],
)
def test_no_new_privileges(sec: Security, nnp: bool) -> None:
    assert spec_of(sec)["process"]["noNewPrivileges"] is nnp


def test_privileged_gets_devices_rw_sys_and_no_seccomp_or_masks() -> None:
    dev = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}
    spec = spec_of(Security(privileged=True), host_devices=[dev])
    assert spec["linux"]["devices"] == [dev]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "seccomp" not in spec["linux"] and "maskedPaths" not in spec["linux"]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]
    plain = spec_of(Security())
    assert plain["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "ro" in next(m for m in plain["mounts"] if m["destination"] == "/sys")["options"]


def test_read_only_root_and_users_groups() -> None:
    assert spec_of(Security(read_only_root_fs=True))["root"] == {"path": "rootfs", "readonly": True}
    assert spec_of(Security())["root"]["readonly"] is False
    passwd = "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"
    group = "app:x:1000:\nwheel:x:10:app\n"
    sec = Security(run_as_user=1000, run_as_group=3000, supplemental_groups=[4000, 2000])
    assert resolve_user("", sec, passwd, group) == (1000, 3000, [10, 2000, 4000])


def test_seccomp_runtime_default_unconfined_and_localhost(tmp_path: Path) -> None:
    default = spec_of(Security())["linux"]["seccomp"]
    assert (default["defaultAction"], default["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    allowed = set(default["syscalls"][0]["names"])
    assert {"read", "write", "execve", "exit_group", "socket"} <= allowed
    assert not {"mount", "unshare", "setns", "reboot", "kexec_load", "init_module", "keyctl"} & allowed
    clone = next(s for s in default["syscalls"] if s["names"] == ["clone"])
    assert clone["args"][0]["value"] == CLONE_NAMESPACE_FLAGS and clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    admin = spec_of(Security(cap_add=["SYS_ADMIN", "SYS_TIME"]))["linux"]["seccomp"]
    assert {"mount", "unshare", "clone", "settimeofday"} <= set(admin["syscalls"][0]["names"])
    assert "seccomp" not in spec_of(Security(seccomp="Unconfined"))["linux"]
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "audit.json").write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG"}))
    loaded = load_localhost_profile(tmp_path, "profiles/audit.json")
    sec = Security(seccomp="Localhost", seccomp_localhost="profiles/audit.json")
    assert spec_of(sec, seccomp_localhost=loaded)["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_LOG"}
    for bad in ("../etc/x.json", "/abs.json", "missing.json"):
        with pytest.raises(SecurityConfigError):
            load_localhost_profile(tmp_path, bad)
    with pytest.raises(SecurityConfigError):
        seccomp_section(sec, [], None)


def test_no_per_container_pids_limit() -> None:
    """The pids limit is the pod's (kubelet/runc/podcgroup.py), not each container's."""
    assert "pids" not in spec_of(Security())["linux"]["resources"]


def test_host_pid_and_ipc() -> None:
    types = [n["type"] for n in spec_of(Security(host_pid=True, host_ipc=True))["linux"]["namespaces"]]
    assert "pid" not in types and "ipc" not in types
    shm = next(m for m in spec_of(Security(host_ipc=True))["mounts"] if m["destination"] == "/dev/shm")
    assert shm["source"] == "/dev/shm"


@pytest.mark.parametrize(
    ("sec", "image_user", "message"),
    [
        (Security(), "", None),
        (Security(run_as_non_root=True, run_as_user=1000), "", None),
        (Security(run_as_non_root=True), "1000", None),
        (Security(run_as_non_root=True), "1000:0", None),
        (Security(run_as_non_root=True), "",
         'container has runAsNonRoot and image will run as root (pod: "web_prod(u1)", container: c)'),
        (Security(run_as_non_root=True), "0:1000",
         'container has runAsNonRoot and image will run as root (pod: "web_prod(u1)", container: c)'),
        (Security(run_as_non_root=True), "app",
         'container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root '
         '(pod: "web_prod(u1)", container: c)'),
        (Security(run_as_non_root=True, run_as_user=0), "1000",
         'container\'s runAsUser breaks non-root policy (pod: "web_prod(u1)", container: c)'),
    ],
)
def test_run_as_non_root_decisions(sec: Security, image_user: str, message: str | None) -> None:
    if message is None:
        verify_non_root(sec, image_user, "c", POD_REF)
        return
    with pytest.raises(SecurityConfigError) as err:
        verify_non_root(sec, image_user, "c", POD_REF)
    assert str(err.value) == message


def test_effective_security_context_container_over_pod() -> None:
    pod = Pod.from_dict({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}, "spec": {
        "hostPID": True,
        "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "supplementalGroups": [5], "fsGroup": 7,
                            "seccompProfile": {"type": "Unconfined"}},
        "containers": [{"name": "c", "securityContext": {
            "runAsUser": 2000, "allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_ADMIN"],
                                                                                   "drop": ["ALL"]},
            "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}]}})
    sec = security(pod, pod.spec.containers[0])
    assert sec == Security(run_as_user=2000, run_as_non_root=True, supplemental_groups=[5, 7],
                           allow_privilege_escalation=False, cap_add=["NET_ADMIN"], cap_drop=["ALL"],
                           seccomp="Localhost", seccomp_localhost="p.json", host_pid=True)
    cfg = container_config(pod, pod.spec.containers[0], "img", {}, [], [], [], 0)
    assert cfg.pod_ref == POD_REF
    root = Pod.from_dict({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}, "spec": {
        "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}})
    with pytest.raises(ConfigError, match="runAsUser breaks non-root policy"):
        security(root, root.spec.containers[0])
