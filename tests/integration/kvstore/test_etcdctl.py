"""Conformance with the real etcd client: `etcdctl` 3.4 (ETCDCTL_API=3) against a 3-member kubelite kvstore
(three real processes replicating through Raft; etcdctl is given every endpoint, as users do)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.integration.kvstore.kvproc import KVCluster, KVProcess, free_peer_port

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
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path_factory.mktemp("etcdctl"), 3)
    try:
        yield c.start()
        for m in c.members.values():
            if m.proc is not None and m.proc.poll() is None:
                assert m.terminate() == 0
    finally:
        c.cleanup()


@pytest.fixture(scope="module")
def ctl(cluster: KVCluster) -> Ctl:
    return Ctl(",".join(cluster.endpoints))


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


def test_member_list_and_endpoint_status(ctl: Ctl, cluster: KVCluster) -> None:
    lines = ctl.out("member", "list")
    assert len(lines) == 3
    rows = sorted(([f.strip() for f in line.split(",")] for line in lines), key=lambda r: r[2])
    assert [r[1:4] for r in rows] == [["started", n, cluster.peer_urls[n]] for n in cluster.names]
    assert sorted(r[4] for r in rows) == sorted(f"http://{e}" for e in cluster.endpoints)
    status = ctl.json("endpoint", "status")
    assert isinstance(status, list) and len(status) == 3
    sts = [s["Status"] for s in status]
    leaders = {st["leader"] for st in sts}
    assert len(leaders) == 1 and leaders <= {st["header"]["member_id"] for st in sts}
    assert len({st["raftTerm"] for st in sts}) == 1 and sts[0]["raftTerm"] > 0
    assert all(st["version"].startswith("3.4") and st["raftIndex"] > 0 and st["dbSize"] > 0 for st in sts)
    assert len({st["header"]["cluster_id"] for st in sts}) == 1
    res = ctl.run("endpoint", "health")
    assert (res.stdout + res.stderr).count("is healthy") == 3
    assert "not supported" in ctl.run("member", "update", "1", "--peer-urls=http://127.0.0.1:1", ok=False).stderr


def test_member_add_join_and_remove(ctl: Ctl, cluster: KVCluster) -> None:
    ctl.run("put", "/before-join", "1")
    url = f"http://127.0.0.1:{free_peer_port()}"
    out = ctl.out("member", "add", "kv-4", f"--peer-urls={url}")
    assert out[0].startswith("Member ") and "added to cluster" in out[0]
    env = dict(line.split("=", 1) for line in out if line.startswith("ETCD_"))
    assert env["ETCD_NAME"] == '"kv-4"' and env["ETCD_INITIAL_CLUSTER_STATE"] == '"existing"'
    initial = env["ETCD_INITIAL_CLUSTER"].strip('"')
    assert f"kv-4={url}" in initial
    assert any(", unstarted, " in line for line in ctl.out("member", "list"))
    tmp = cluster.root / "kv-4"
    joiner = KVProcess(tmp, cluster.root / "kv-4.log", "--name", "kv-4", "--initial-cluster", initial,
                       "--initial-cluster-state", "existing")
    try:
        joiner.start()
        solo = Ctl(joiner.endpoint)
        deadline = time.monotonic() + 20
        while solo.run("get", "/before-join", "--print-value-only", ok=False).stdout.strip() != "1":
            assert time.monotonic() < deadline, "the new member never caught up"
            time.sleep(0.1)
        rows = [[f.strip() for f in line.split(",")] for line in ctl.out("member", "list")]
        assert len(rows) == 4 and all(r[1] == "started" for r in rows)
        new_id = next(r[0] for r in rows if r[2] == "kv-4")
        assert solo.out("put", "/via-kv-4", "x") == ["OK"]
        removed = " ".join(ctl.out("member", "remove", new_id)[0].split())  # etcdctl pads ids to 16 columns
        assert removed == f"Member {new_id} removed from cluster {_cluster_id(ctl)}"
        assert joiner.wait_exit(20) == 0  # a removed member shuts itself down
        assert len(ctl.out("member", "list")) == 3
        assert ctl.out("get", "/via-kv-4", "--print-value-only") == ["x"]
        res = ctl.run("member", "remove", new_id, ok=False)
        assert res.returncode != 0 and "member not found" in res.stderr
    finally:
        joiner.cleanup()


def _cluster_id(ctl: Ctl) -> str:
    header = ctl.json("get", "x")["header"]
    assert isinstance(header, dict)
    return f"{int(header['cluster_id']):x}"


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
