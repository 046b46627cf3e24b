"""Conformance with the real etcd client: `etcdctl` 3.4 (ETCDCTL_API=3) against kubelite's kvstore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.integration.kvstore.kvproc import KVProcess

pytestmark = pytest.mark.integration

ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
if not os.path.exists(ETCDCTL):
    pytest.skip("etcdctl is not installed (apt-get install -y etcd-client)", allow_module_level=True)


class Ctl:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {**os.environ, "ETCDCTL_API": "3"}

    def args(self, *args: str) -> list[str]:
        return [ETCDCTL, "--endpoints", self.endpoint, "--command-timeout", "10s", *args]

    def run(self, *args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True, env=self.env, timeout=30)
        if ok:
            assert res.returncode == 0, f"etcdctl {' '.join(args)} failed: {res.stderr}"
        return res

    def out(self, *args: str) -> list[str]:
        return self.run(*args).stdout.splitlines()

    def json(self, *args: str) -> dict[str, object]:
        return json.loads(self.run("-w", "json", *args).stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def ctl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctl]:
    tmp = tmp_path_factory.mktemp("etcdctl")
    proc = KVProcess(tmp / "data", tmp / "kvstore.log").start()
    try:
        yield Ctl(proc.endpoint)
        assert proc.terminate() == 0
    finally:
        proc.cleanup()


def revision(ctl: Ctl) -> int:
    header = ctl.json("get", "no-such-key")["header"]
    assert isinstance(header, dict)
    return int(header["revision"])


def test_put_get_variants(ctl: Ctl) -> None:
    assert ctl.out("put", "/app/a", "1") == ["OK"]
    ctl.run("put", "/app/b", "2")
    ctl.run("put", "/app/c", "3")
    ctl.run("put", "/other", "x")
    assert ctl.out("get", "/app/a") == ["/app/a", "1"]
    assert ctl.out("get", "/app/", "--prefix") == ["/app/a", "1", "/app/b", "2", "/app/c", "3"]
    assert ctl.out("get", "/app/", "--prefix", "--keys-only") == ["/app/a", "", "/app/b", "", "/app/c", ""]
    assert ctl.out("get", "/app/", "--prefix", "--limit", "2", "--print-value-only") == ["1", "2"]
    assert ctl.out("get", "/app/c", "--from-key", "--keys-only") == ["/app/c", "", "/other", ""]
    got = ctl.json("get", "/app/", "--prefix", "--limit", "1")
    assert got["more"] is True and got["count"] == 3
    mod = got["kvs"][0]["mod_revision"]  # type: ignore[index]
    ctl.run("put", "/app/a", "changed")
    assert ctl.out("get", "/app/a", "--rev", str(mod), "--print-value-only") == ["1"]
    assert ctl.out("get", "/app/a", "--print-value-only") == ["changed"]
    assert ctl.out("put", "/app/a", "again", "--prev-kv") == ["OK", "/app/a", "changed"]


def test_delete(ctl: Ctl) -> None:
    for k in ("/del/1", "/del/2", "/del/3"):
        ctl.run("put", k, "v")
    assert ctl.out("del", "/del/1") == ["1"]
    assert ctl.out("del", "/del/", "--prefix", "--prev-kv") == ["2", "/del/2", "v", "/del/3", "v"]
    assert ctl.out("get", "/del/", "--prefix") == []
    assert ctl.out("del", "/del/nothing") == ["0"]


def txn_result(ctl: Ctl, script: str) -> list[str]:
    """`etcdctl txn -i` output after its three prompts."""
    lines = ctl.run("txn", "-i", stdin=script).stdout.splitlines()
    assert lines[:3] == ["compares:", "success requests (get, put, del):", "failure requests (get, put, del):"]
    return lines[3:]


def test_txn_interactive(ctl: Ctl) -> None:
    ctl.run("put", "/txn/k", "old")
    script = 'value("/txn/k") = "old"\n\nput /txn/k new\nput /txn/other 1\n\nget /txn/k\n\n'
    assert txn_result(ctl, script) == ["SUCCESS", "", "OK", "", "OK"]
    assert ctl.out("get", "/txn/k", "--print-value-only") == ["new"]
    assert ctl.out("get", "/txn/other", "--print-value-only") == ["1"]
    assert txn_result(ctl, script) == ["FAILURE", "", "/txn/k", "new"]  # the failure branch's get
    script = 'mod("/txn/k") > "0"\nversion("/txn/k") = "2"\n\nput /txn/k v3\n\n\n'
    assert txn_result(ctl, script)[0] == "SUCCESS"
    assert ctl.out("get", "/txn/k", "--print-value-only") == ["v3"]


def test_watch_prefix(ctl: Ctl) -> None:
    start = revision(ctl) + 1
    watch = subprocess.Popen(
        ctl.args("watch", "--prefix", "/w/", "--rev", str(start)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ctl.env,
    )
    try:
        ctl.run("put", "/w/a", "1")
        ctl.run("put", "/elsewhere", "x")
        ctl.run("del", "/w/a")
        lines: list[str] = []
        assert watch.stdout is not None
        deadline = time.monotonic() + 15
        while len(lines) < 5 and time.monotonic() < deadline:
            line = watch.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        assert lines == ["PUT", "/w/a", "1", "DELETE", "/w/a"]
    finally:
        watch.kill()
        watch.wait(10)
    # history replay of a finished range, bounded by timeout
    res = subprocess.run(["timeout", "3", *ctl.args("watch", "--prefix", "/w/", "--rev", str(start))],
                         capture_output=True, text=True, env=ctl.env, timeout=30)
    assert res.stdout.splitlines()[:5] == ["PUT", "/w/a", "1", "DELETE", "/w/a"]


def test_leases(ctl: Ctl) -> None:
    line = ctl.out("lease", "grant", "300")[0]
    lease = line.split()[1]
    assert line == f"lease {lease} granted with TTL(300s)"
    ctl.run("put", "/lease/k", "v", "--lease", lease)
    ttl = ctl.out("lease", "timetolive", lease, "--keys")[0]
    assert ttl.startswith(f"lease {lease} granted with TTL(300s), remaining(") and ttl.endswith("attached keys([/lease/k])")
    assert ctl.out("lease", "keep-alive", "--once", lease) == [f"lease {lease} keepalived with TTL(300)"]
    assert lease in ctl.out("lease", "list")
    assert ctl.out("lease", "revoke", lease) == [f"lease {lease} revoked"]
    assert ctl.out("get", "/lease/k") == []
    assert ctl.out("lease", "timetolive", lease) == [f"lease {lease} already expired"]
    res = ctl.run("lease", "revoke", lease, ok=False)
    assert res.returncode != 0 and "requested lease not found" in res.stderr
    res = ctl.run("put", "/lease/k", "v", "--lease", lease, ok=False)
    assert res.returncode != 0 and "requested lease not found" in res.stderr


def test_member_and_endpoint(ctl: Ctl) -> None:
    (member,) = ctl.out("member", "list")
    fields = [f.strip() for f in member.split(",")]
    assert fields[1:3] == ["started", "kv-1"] and fields[4] == f"http://{ctl.endpoint}"
    status = ctl.json("endpoint", "status")
    assert isinstance(status, list)
    st = status[0]["Status"]
    assert st["version"].startswith("3.4") and st["leader"] == st["header"]["member_id"]
    assert st["raftIndex"] > 0 and st["dbSize"] > 0
    res = ctl.run("endpoint", "health")
    assert "is healthy" in res.stdout + res.stderr
    assert "not supported" in ctl.run("member", "remove", "1", ok=False).stderr


def test_compaction(ctl: Ctl) -> None:
    ctl.run("put", "/cmp/k", "1")
    old = revision(ctl)
    ctl.run("put", "/cmp/k", "2")
    current = revision(ctl)
    assert ctl.out("compaction", str(current)) == [f"compacted revision {current}"]
    res = ctl.run("get", "/cmp/k", "--rev", str(old), ok=False)
    assert res.returncode != 0 and "required revision has been compacted" in res.stderr
    assert ctl.out("get", "/cmp/k", "--rev", str(current), "--print-value-only") == ["2"]
    res = subprocess.run(["timeout", "5", *ctl.args("watch", "/cmp/k", "--rev", str(old))],
                         capture_output=True, text=True, env=ctl.env, timeout=30)
    assert "required revision has been compacted" in res.stdout + res.stderr
