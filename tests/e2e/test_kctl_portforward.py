"""`kctl port-forward` on a runc cluster: real HTTP traffic from a host port through the apiserver
and the kubelet into a busybox httpd, by svc/ (named targetPort) and deploy/, several sequential
and two overlapping connections, a closed port, a user without `create pods/portforward`, Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from kubelite.api.errors import Forbidden
from kubelite.client import ApiClient
from tests.e2e.cluster import LocalCluster

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc pods, network namespaces")]

WEB = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pfweb"},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "pfweb"}},
              "template": {"metadata": {"labels": {"app": "pfweb"}}, "spec": {
                  "terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "web", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}],
                                  "command": ["sh", "-c", "mkdir -p /www && echo hello-from-pfweb > /www/index.html "
                                              "&& exec httpd -f -p 8080 -h /www"]}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pfweb"},
     "spec": {"selector": {"app": "pfweb"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pf-reader"},
     "rules": [{"apiGroups": ["", "apps"], "resources": ["pods", "services", "deployments"],
                "verbs": ["get", "list"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "pf-bob-reads"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pf-reader"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]},
]
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


@pytest.fixture(scope="module")
def web(runc_cluster: LocalCluster) -> Iterator[LocalCluster]:
    runc_cluster.kctl_ok("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in WEB))
    runc_cluster.kctl_ok("wait", "--for=condition=Ready", "pod", "-l", "app=pfweb", "--timeout=180s")
    yield runc_cluster


class Forward:
    """A running `kctl port-forward`, its printed forwards, and its output so far."""

    def __init__(self, c: LocalCluster, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kubectl.main", "--server", c.server, *args],
                                     env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def _read(self, deadline: float) -> bytes:
        stdout = self.proc.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
        return stdout.read1(65536) if ready else b""

    def forwards(self, count: int, timeout: float = 60) -> list[tuple[int, int]]:
        """The first `count` (local, remote) pairs of `Forwarding from 127.0.0.1:L -> R`."""
        deadline = time.monotonic() + timeout
        while len(FORWARDING.findall(self.out.decode())) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no forwards: {self.out!r} {self.stop()[1]!r}")
            self.out += self._read(deadline)
        return [(int(a), int(b)) for a, b in FORWARDING.findall(self.out.decode())][:count]

    def stop(self, grace: float = 0) -> tuple[int, str]:
        """Ctrl-C (unless it exits by itself within `grace` seconds), then (exit code, stderr)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.out += out
        return self.proc.returncode, err.decode()


def _request(conn: socket.socket) -> bytes:
    conn.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
    return _read_all(conn)


def _read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        return _request(conn)


def _ok(answer: bytes) -> bool:
    return answer.startswith(b"HTTP/1.") and answer.endswith(b"hello-from-pfweb\n")


def test_svc_named_target_port_free_local_port_sequential_and_concurrent(web: LocalCluster) -> None:
    fwd = Forward(web, "port-forward", "svc/pfweb", ":80")
    try:
        [(local, remote)] = fwd.forwards(1)
        assert remote == 8080  # the Service's port 80 -> targetPort "http" -> the container's 8080
        for _ in range(3):
            answer = _get(local)
            assert _ok(answer), answer
        with socket.create_connection(("127.0.0.1", local), timeout=20) as first:
            first.sendall(b"GET / HTTP/1.0\r\n")  # the first stays open, half-sent, while the second is served
            second = _get(local)
            assert _ok(second), second
            first.sendall(b"Host: pod\r\n\r\n")
            answer = _read_all(first)
            assert _ok(answer), answer
    finally:
        code, err = fwd.stop()
    assert code == 0 and "Traceback" not in err, err
    assert f"Handling connection for {local}" in fwd.out.decode()


def test_deploy_several_ports_and_a_closed_one(web: LocalCluster) -> None:
    fwd = Forward(web, "port-forward", "deploy/pfweb", "0:8080", ":9", "--address", "127.0.0.1")
    try:
        (local, remote), (closed_local, closed_remote) = fwd.forwards(2)
        assert (remote, closed_remote) == (8080, 9)
        assert _ok(_get(local))
        assert _get(closed_local) == b""  # nothing listens on 9: that connection ends, the forward goes on
        assert _ok(_get(local))
        assert fwd.proc.poll() is None
    finally:
        code, err = fwd.stop()
    assert code == 0, err
    assert f"error: an error occurred forwarding {closed_local} -> 9" in err, err
    assert "failed to connect to localhost:9" in err, err
    assert "Traceback" not in err, err


def test_user_without_portforward_permission_is_refused(web: LocalCluster) -> None:
    refused = web.kctl("--as", "bob", "port-forward", "deploy/pfweb", ":8080")  # bob may read the pods
    assert refused.returncode == 1
    assert 'cannot create resource "pods/portforward" in API group "" in the namespace "default"' \
        in refused.stderr, refused.stderr
    pod = web.kctl_ok("get", "pods", "-l", "app=pfweb", "-o", "jsonpath={.items[0].metadata.name}")

    async def stream_as_bob() -> None:  # the apiserver's own check on the gRPC stream, without kctl's
        async with ApiClient.connect(web.server, credentials=web.credentials(), impersonate_user="bob") as client:
            async for _ in client.port_forward("default", pod, 8080, _nothing()):
                pass

    with pytest.raises(Forbidden) as err:
        asyncio.run(stream_as_bob())
    assert err.value.code == 403
    assert (f'pods "{pod}" is forbidden: User "bob" cannot create resource "pods/portforward" in API group "" '
            'in the namespace "default"') in err.value.message, err.value.message


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def test_forward_ends_when_the_pod_goes_away(web: LocalCluster) -> None:
    web.kctl_ok("run", "pfbox", "--image=busybox", "--", "sh", "-c",
                "mkdir -p /www && echo hello-from-pfweb > /www/index.html && exec httpd -f -p 8080 -h /www")
    web.kctl_ok("wait", "--for=condition=Ready", "pod/pfbox", "--timeout=180s")
    fwd = Forward(web, "port-forward", "pfbox", ":8080")
    [(local, _)] = fwd.forwards(1)
    assert _ok(_get(local))
    web.kctl_ok("delete", "pod", "pfbox", "--wait=false")
    code, err = fwd.stop(grace=60)
    assert code == 1 and "error: lost connection to pod: pod pfbox " in err, err


def test_bad_port_spec_and_missing_service_port(web: LocalCluster) -> None:
    bad = web.kctl("port-forward", "svc/pfweb", "70000")
    assert bad.returncode == 1 and "invalid remote port 70000" in bad.stderr, bad.stderr
    missing = web.kctl("port-forward", "svc/pfweb", "8081:81")
    assert missing.returncode == 1 and "Service pfweb does not have a service port 81" in missing.stderr


def test_a_pod_that_never_runs_is_reported_after_the_timeout(web: LocalCluster) -> None:
    stuck = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pfstuck"},
             "spec": {"nodeSelector": {"no-such": "node"}, "containers": [{"name": "c", "image": "busybox"}]}}
    web.kctl_ok("apply", "-f", "-", input=json.dumps(stuck))
    started = time.monotonic()
    waited = web.kctl("port-forward", "pod/pfstuck", "8080", "--pod-running-timeout=2s")
    assert waited.returncode == 1
    assert "unable to forward port because pod is not running. Current status=Pending" in waited.stderr
    assert time.monotonic() - started >= 2
