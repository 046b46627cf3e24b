"""Real `kubectl` (the Debian package) streaming against a runc cluster over the HTTPS API:
`logs` (--tail, --since, -f, -c, --previous, --timestamps, --limit-bytes), `exec` (exit codes,
stdout/stderr apart, -i, -it through a pseudo-terminal), `cp` both ways, `port-forward`,
`attach`; the official Python client's exec and port-forward; refusals as Kubernetes sends them.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite.pki import cluster as pki
from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc pods, network namespaces")]
KUBECTL = shutil.which("kubectl")

TALKER = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
        {"name": "main", "image": "busybox",
         "command": ["sh", "-c", "echo start; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.5; done"]},
        {"name": "side", "image": "busybox",
         "command": ["sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && echo side-ready "
                                 "&& exec httpd -f -p 8080 -h /www"]},
    ]},
}
CRASHER = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo life-$RANDOM$RANDOM; sleep 1; exit 1"]}]},
}
SHORT = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "short"},
    "spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3; echo first; sleep 1; echo last"]}]},
}
READER_ONLY = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "alice-reads"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]},
]


class Kubectl:
    """Real kubectl with a kubeconfig for the cluster's HTTPS API (admin client certificate)."""

    def __init__(self, c: LocalCluster, tmp: Path) -> None:
        tls = pki.admin_tls(c.plan.pki_dir)
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kl",
            "clusters": [{"name": "kl", "cluster": {"server": c.plan.https_server,
                                                    "certificate-authority": tls.ca_file}}],
            "contexts": [{"name": "kl", "context": {"cluster": "kl", "user": "admin", "namespace": "default"}}],
            "users": [{"name": "admin", "user": {"client-certificate": tls.cert_file, "client-key": tls.key_file}}],
        }))
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(tmp / "cache"),
                    "HOME": str(tmp)}

    def argv(self, *args: str) -> list[str]:
        assert KUBECTL is not None
        return [KUBECTL, *args]

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        data = input.encode() if isinstance(input, str) else input
        return subprocess.run(self.argv(*args), input=data, capture_output=True, env=self.env, timeout=timeout)

    def ok(self, *args: str, input: str | bytes | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr.decode()}"
        return done.stdout.decode()


@pytest.fixture(scope="module")
def kubectl(runc_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    if KUBECTL is None:
        pytest.skip("kubectl (the Debian package) is not installed")
    k = Kubectl(runc_cluster, tmp_path_factory.mktemp("kubectl"))
    for pod in (TALKER, CRASHER):
        k.ok("apply", "-f", "-", input=json.dumps(pod))
    k.ok("wait", "--for=condition=Ready", "pod/talker", "--timeout=180s")
    yield k


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_logs_tail_since_container_timestamps_limit(kubectl: Kubectl) -> None:
    wait_for(lambda: "line 10" in kubectl.ok("logs", "talker", "-c", "main"), 60, "talker to log 10 lines")
    tail = _lines(kubectl.ok("logs", "talker", "-c", "main", "--tail", "2"))
    assert len(tail) == 2 and all(re.fullmatch(r"line \d+", line) for line in tail), tail
    assert int(tail[1].split()[1]) == int(tail[0].split()[1]) + 1
    recent = _lines(kubectl.ok("logs", "talker", "-c", "main", "--since", "2s"))
    everything = _lines(kubectl.ok("logs", "talker", "-c", "main"))
    assert everything[0] == "start" and "start" not in recent
    assert 1 <= len(recent) < len(everything) - 5, (recent, len(everything))
    assert kubectl.ok("logs", "talker", "-c", "side") == "side-ready\n"
    stamped = _lines(kubectl.ok("logs", "talker", "-c", "main", "--timestamps", "--tail", "1"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\S* line \d+", stamped[0]), stamped
    assert kubectl.ok("logs", "talker", "-c", "main", "--limit-bytes", "7") == "start\nl"
    raw = kubectl.run("get", "--raw", "/api/v1/namespaces/default/pods/talker/log")
    assert raw.returncode != 0
    assert ("a container name must be specified for pod talker, choose one of: [main side]"
            in raw.stderr.decode()), raw.stderr
    missing = kubectl.run("logs", "nope")
    assert 'pods "nope" not found' in missing.stderr.decode() and missing.returncode != 0
    bad = kubectl.run("get", "--raw", "/api/v1/namespaces/default/pods/talker/log?container=main&tailLines=x")
    assert "BadRequest" in bad.stderr.decode() or "tailLines" in bad.stderr.decode(), bad.stderr


def test_logs_follow_sees_new_lines_and_ends_with_the_container(kubectl: Kubectl) -> None:
    proc = subprocess.Popen(kubectl.argv("logs", "-f", "talker", "-c", "main", "--tail", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kubectl.env)
    try:
        assert proc.stdout is not None
        first = int(proc.stdout.readline().split()[1])
        later = int(proc.stdout.readline().split()[1])  # only written after kubectl started following
        assert later == first + 1
    finally:
        proc.kill()
        proc.wait()
    # A follow ends by itself when the container ends (it starts before the first line is written).
    kubectl.ok("apply", "-f", "-", input=json.dumps(SHORT))
    kubectl.ok("wait", "--for=jsonpath={.status.phase}=Running", "pod/short", "--timeout=120s")
    followed = kubectl.run("logs", "-f", "short", timeout=90)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.decode() == "first\nlast\n"


def test_logs_previous(kubectl: Kubectl) -> None:
    def restarted() -> bool:
        pod = json.loads(kubectl.ok("get", "pod", "crasher", "-o", "json"))
        statuses = pod.get("status", {}).get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0)) >= 1

    wait_for(restarted, 90, "crasher to restart")
    previous = kubectl.ok("logs", "crasher", "--previous")
    assert re.fullmatch(r"life-\d+\n", previous), previous
    refused = kubectl.run("logs", "talker", "-c", "main", "--previous")
    assert refused.returncode != 0
    assert 'previous terminated container "main" in pod "talker" not found' in refused.stderr.decode()


def test_exec_separates_streams_and_propagates_the_exit_code(kubectl: Kubectl) -> None:
    done = kubectl.run("exec", "talker", "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3
    assert done.stdout == b"out\n"
    assert done.stderr.decode().startswith("err\n") and "command terminated with exit code 3" in done.stderr.decode()
    echoed = kubectl.run("exec", "-i", "talker", "-c", "main", "--", "sh", "-c", "cat; echo done",
                         input="from stdin\n")
    assert echoed.returncode == 0 and echoed.stdout == b"from stdin\ndone\n"
    big = os.urandom(300_000).hex().encode()  # 600 kB through stdin and back
    checked = kubectl.run("exec", "-i", "talker", "-c", "main", "--", "wc", "-c", input=big)
    assert checked.stdout.split() == [str(len(big)).encode()]
    missing = kubectl.run("exec", "talker", "-c", "nope", "--", "true")
    assert missing.returncode != 0 and "container nope is not valid for pod talker" in missing.stderr.decode()
    gone = kubectl.run("exec", "short-missing", "--", "true")
    assert 'pods "short-missing" not found' in gone.stderr.decode()
    assert "ok" in kubectl.ok("exec", "talker", "-c", "main", "--", "echo", "ok")  # the server survived


def test_exec_ends_when_the_client_goes_away(kubectl: Kubectl) -> None:
    proc = subprocess.Popen(kubectl.argv("exec", "talker", "-c", "main", "--", "sh", "-c", "echo up; exec sleep 4242"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kubectl.env)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"

    def sleeping() -> bool:
        return "sleep 4242" in kubectl.ok("exec", "talker", "-c", "main", "--", "ps", "-o", "args")

    assert sleeping()
    proc.kill()
    proc.wait()
    wait_for(lambda: not sleeping(), 30, "the exec'd command to be killed after kubectl went away")


def _drain(fd: int, until: bytes, timeout: float) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_exec_interactive_tty(kubectl: Kubectl) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl on a terminal of our own
        os.execvpe(kubectl.argv()[0], kubectl.argv("exec", "-it", "talker", "-c", "main", "--", "sh"), kubectl.env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        _drain(fd, b"# ", 30)
        os.write(fd, b"tty; stty size; echo $((6*7))\n")
        seen = _drain(fd, b"42", 30).decode(errors="replace")
        assert "/dev/pts/" in seen and "33 111" in seen, seen
        os.write(fd, b"exit 5\n")
        _drain(fd, b"exit code 5", 30)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5


def test_cp_both_ways(kubectl: Kubectl, tmp_path: Path) -> None:
    local = tmp_path / "in.bin"
    local.write_bytes(os.urandom(200_000))
    kubectl.ok("cp", str(local), "talker:/tmp/copied.bin", "-c", "main")
    remote_sum = kubectl.ok("exec", "talker", "-c", "main", "--", "md5sum", "/tmp/copied.bin").split()[0]
    assert remote_sum == subprocess.run(["md5sum", str(local)], capture_output=True, text=True).stdout.split()[0]
    back = tmp_path / "back.bin"
    kubectl.ok("cp", "talker:/tmp/copied.bin", str(back), "-c", "main")
    assert back.read_bytes() == local.read_bytes()


def test_attach_streams_output_from_now_until_the_container_ends(kubectl: Kubectl) -> None:
    proc = subprocess.Popen(kubectl.argv("attach", "talker", "-c", "main"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=kubectl.env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        second = proc.stdout.readline().decode()
        assert re.fullmatch(r"line \d+\n", first) and int(second.split()[1]) == int(first.split()[1]) + 1
    finally:
        proc.kill()
        proc.wait()
    ender = {**SHORT, "metadata": {"name": "ender"}}
    kubectl.ok("apply", "-f", "-", input=json.dumps(ender))
    kubectl.ok("wait", "--for=jsonpath={.status.phase}=Running", "pod/ender", "--timeout=120s")
    attached = kubectl.run("attach", "ender", timeout=90)
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout.decode().endswith("last\n")
    refused = kubectl.run("attach", "-i", "talker", "-c", "main", timeout=30)
    assert refused.returncode != 0 and "kubelite containers have neither" in refused.stderr.decode()


def test_unauthorized_user_gets_403(kubectl: Kubectl) -> None:
    for obj in READER_ONLY:
        kubectl.ok("apply", "-f", "-", input=json.dumps(obj))
    refused = kubectl.run("--as", "alice", "exec", "talker", "-c", "main", "--", "true")
    assert refused.returncode != 0
    assert ('User "alice" cannot create resource "pods/exec" in API group "" in the namespace "default"'
            in refused.stderr.decode()), refused.stderr
    logs = kubectl.run("--as", "alice", "logs", "talker", "-c", "main")
    assert 'User "alice" cannot get resource "pods/log"' in logs.stderr.decode(), logs.stderr
    forward = kubectl.run("--as", "alice", "get", "--raw",
                          "/api/v1/namespaces/default/pods/talker/portforward?ports=8080")
    assert 'cannot create resource "pods/portforward"' in forward.stderr.decode(), forward.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data


def test_python_client_exec_and_port_forward(kubectl: Kubectl) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream

    api = client.CoreV1Api(config.new_client_from_config(str(kubectl.kubeconfig)))
    out = stream(api.connect_get_namespaced_pod_exec, "talker", "default", container="main",
                 command=["sh", "-c", "echo hi; echo oops >&2"], stdout=True, stderr=True, stdin=False, tty=False)
    assert sorted(out.splitlines()) == ["hi", "oops"]  # stdout and stderr are separate pipes: no order between them
    call = stream(api.connect_get_namespaced_pod_exec, "talker", "default", container="main",
                  command=["sh", "-c", "exit 7"], stdout=True, stderr=True, stdin=False, tty=False,
                  _preload_content=False)
    call.run_forever(timeout=30)
    assert call.returncode == 7
    forwarded = portforward(api.connect_get_namespaced_pod_portforward, "talker", "default", ports="8080")
    sock = forwarded.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.") and data.endswith(b"hello-from-pod\n"), data
    assert forwarded.error(8080) is None
    refused = portforward(api.connect_get_namespaced_pod_portforward, "talker", "default", ports="9")
    closed = refused.socket(9)
    closed.setblocking(True)
    assert closed.recv(10) == b""
    assert "failed to connect to localhost:9" in (refused.error(9) or "")


def test_kubectl_port_forward(kubectl: Kubectl) -> None:
    local = _free_port()
    proc = subprocess.Popen(kubectl.argv("port-forward", "pod/talker", f"{local}:8080"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=kubectl.env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert f"Forwarding from 127.0.0.1:{local} -> 8080" in line, (line, proc.stderr and proc.stderr.read())
        for _ in range(3):  # several connections through one forward
            answer = _http_get(local)
            assert answer.startswith(b"HTTP/1.") and answer.endswith(b"hello-from-pod\n"), answer
    finally:
        proc.kill()
        proc.wait()
