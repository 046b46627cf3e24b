"""`kubelite init` + `kubelite join` + `kubelite leave` as a user runs them (process runtime, one machine).

The joining node is given nothing but the printed join command and its own
data directory: it verifies the control plane by the CA hash and the token's
signature on cluster-info, gets its certificate through a CSR and registers
as `system:node:<name>`. A wrong CA hash, another cluster's token and an
expired token are refused with clear errors and start nothing. `leave`
drains, deletes the Node and removes the node's directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from kubelite.api import Node
from kubelite.api import bootstraptoken as bt
from kubelite.api.certificates import CertificateSigningRequest
from kubelite.api.podutil import condition_true
from kubelite.api.timeutil import utcnow
from tests.e2e.cluster import leftovers, processes_with_env, random_port_offset, wait_for
from tests.e2e.conftest import LocalCluster, _kill

pytestmark = pytest.mark.e2e


ENV: dict[str, str] = {}  # KUBECONFIG for `init`'s context: never the user's ~/.kube/config


def kubelite(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubelite.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **ENV})


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, list[str]]]:
    data_dir = tmp_path_factory.mktemp("init")
    ENV["KUBECONFIG"] = str(data_dir / "kubeconfig")
    offset = random_port_offset()
    c = LocalCluster(data_dir, nodes=1, port_offset=offset, kv_members=1)
    init = kubelite("init", "--advertise-address", "127.0.0.1", "--data-dir", str(data_dir), "--nodes", "1",
                    "--port-offset", str(offset), "--runtime", "process", "--kv-members", "1",
                    "--config-out", str(data_dir / "config"), "-q")
    try:
        assert init.returncode == 0, f"kubelite init failed:\n{init.stdout}\n{init.stderr}"
        line = next(x.strip() for x in init.stdout.splitlines() if x.strip().startswith("kubelite join "))
        yield c, shlex.split(line)[1:]
    finally:
        down = kubelite("down", "--data-dir", str(data_dir), "--grace", "20")
        left = leftovers(c)
        _kill(processes_with_env(f"KUBELITE_CLUSTER_DIR={data_dir}"))
        assert down.returncode == 0, down.stderr
        assert not left, f"left behind: {left}"


def with_flag(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def test_join_command_has_kubeadms_shape(control_plane: tuple[LocalCluster, list[str]]) -> None:
    c, args = control_plane
    assert args[0] == "join" and args[1] == f"https://127.0.0.1:{c.plan.https_port}"
    assert bt.TOKEN_RE.match(args[args.index("--token") + 1])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", args[args.index("--discovery-token-ca-cert-hash") + 1])
    listed = kubelite("token", "list", "--data-dir", str(c.data_dir))
    assert listed.returncode == 0 and args[args.index("--token") + 1] in listed.stdout, listed.stderr


def test_token_create_list_delete(control_plane: tuple[LocalCluster, list[str]]) -> None:
    c, _ = control_plane
    data = ["--data-dir", str(c.data_dir)]
    created = kubelite("token", "create", "--ttl", "2h", "--description", "for the lab", *data)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert bt.TOKEN_RE.match(token)
    row = next(x for x in kubelite("token", "list", *data).stdout.splitlines() if x.startswith(token))
    assert "for the lab" in row and "authentication,signing" in row and re.search(r"\s1h\s", row), row
    deleted = kubelite("token", "delete", token.partition(".")[0], *data)
    assert deleted.returncode == 0 and "deleted" in deleted.stdout, deleted.stderr
    assert token not in kubelite("token", "list", *data).stdout
    again = kubelite("token", "delete", token.partition(".")[0], *data)
    assert again.returncode == 1 and "not found" in again.stderr
    bad = kubelite("token", "create", "--ttl", "soon", *data)
    assert bad.returncode == 2 and "invalid duration" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("case", ["wrong CA hash", "another cluster's token", "expired token"])
def test_join_refuses_what_it_cannot_trust(control_plane: tuple[LocalCluster, list[str]], tmp_path: Path,
                                           case: str) -> None:
    c, args = control_plane
    if case == "wrong CA hash":
        args, expected = with_flag(args, "--discovery-token-ca-cert-hash", "sha256:" + "0" * 64), \
            "is not one of the pinned hashes"
    elif case == "another cluster's token":
        args, expected = with_flag(args, "--token", bt.generate()), "invalid for this cluster or it has expired"
    else:
        expired = bt.new_token(utcnow() - dt.timedelta(hours=2), dt.timedelta(hours=1), token="expird.0123456789abcdef")
        c.kctl_ok("apply", "-f", "-", input=json.dumps(bt.to_secret(expired).to_dict()))
        args, expected = with_flag(args, "--token", expired.token), "invalid for this cluster or it has expired"
    joined = kubelite(*args, "--node-name", "never", "--node-ip", "127.0.0.42", "--data-dir", str(tmp_path / "n"),
                      "--runtime", "process", timeout=60)
    assert joined.returncode == 1 and "discovery failed" in joined.stderr and expected in joined.stderr, \
        joined.stderr
    assert "Traceback" not in joined.stderr
    assert not (tmp_path / "n").exists()  # nothing was started or written


def test_join_then_leave(control_plane: tuple[LocalCluster, list[str]], tmp_path: Path) -> None:
    c, args = control_plane
    node_dir = tmp_path / "joined"
    joined = kubelite(*args, "--node-name", "joined-1", "--node-ip", "127.0.0.41", "--data-dir", str(node_dir),
                      "--runtime", "process", "--port-offset", str(c.port_offset), timeout=180)
    try:
        assert joined.returncode == 0, f"{joined.stdout}\n{joined.stderr}"
        cert = x509.load_pem_x509_certificate((node_dir / "pki" / "kubelet-client.crt").read_bytes())
        assert cert.subject.rfc4514_string() == "CN=system:node:joined-1,O=system:nodes"

        def ready() -> bool:
            got = c.kctl("get", "node", "joined-1", "-o", "json")
            return got.returncode == 0 and condition_true(Node.from_dict(json.loads(got.stdout)).status, "Ready")

        wait_for(ready, 90, "the joined node to be Ready")
        csrs = json.loads(c.kctl_ok("get", "csr", "-o", "json"))["items"]
        assert any(CertificateSigningRequest.from_dict(x).approved
                   and (x["spec"].get("username") or "").startswith("system:bootstrap:") for x in csrs)
        # logs through the apiserver: it reaches the joined kubelet over TLS verified with the cluster CA
        # (the node's CA-issued serving certificate) as its kubelet client
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-joined", "namespace": "default"},
               "spec": {"nodeName": "joined-1", "terminationGracePeriodSeconds": 1, "containers": [
                   {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hello from joined; sleep 600"]}]}}
        c.kctl_ok("apply", "-f", "-", input=json.dumps(pod))
        wait_for(lambda: "hello from joined" in c.kctl("logs", "on-joined").stdout, 60, "logs of a pod on the joined node")
        left = kubelite("leave", "--data-dir", str(node_dir), timeout=180)
        assert left.returncode == 0, f"{left.stdout}\n{left.stderr}"
        assert "node/joined-1 drained" in left.stdout and "node joined-1 deleted" in left.stdout
        assert not node_dir.exists()

        assert c.kctl("get", "pod", "on-joined").returncode == 1  # drained
        gone = c.kctl("get", "node", "joined-1")
        assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stderr
    finally:
        if node_dir.exists():
            kubelite("leave", "--data-dir", str(node_dir), timeout=120)
