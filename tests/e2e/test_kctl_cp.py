"""kctl cp both ways through exec + tar, kctl wait and logs flags on a real pod (process-runtime cluster).

The copies are checked by checksum on both sides: the container's own sha256sum of the
uploaded file, and the local bytes of the downloaded tree.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("kubelite up starts node agents")]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cp_round_trip_keeps_checksums(cluster: LocalCluster, tmp_path: Path) -> None:
    cluster.kctl_ok("run", "box", "--image=busybox:1.36", "--", "sh", "-c", "echo hello-box; sleep 3600")
    assert cluster.kctl_ok("wait", "--for=condition=Ready", "pod/box", "--timeout=90s") == "pod/box condition met\n"
    blob = os.urandom(300_000)
    local = tmp_path / "up"
    (local / "sub").mkdir(parents=True)
    (local / "a.bin").write_bytes(blob)
    (local / "sub" / "b.txt").write_text("hello\n")
    remote = f"{tmp_path}/remote"
    cluster.kctl_ok("exec", "box", "--", "mkdir", "-p", remote)
    cluster.kctl_ok("cp", str(local), f"box:{remote}/tree")
    remote_sum = cluster.kctl_ok("exec", "box", "--", "sha256sum", f"{remote}/tree/a.bin").split()[0]
    assert remote_sum == sha256(blob)
    down = tmp_path / "down"
    cluster.kctl_ok("cp", f"box:{remote}/tree", str(down))
    assert sha256((down / "a.bin").read_bytes()) == sha256(blob)
    assert (down / "sub" / "b.txt").read_text() == "hello\n"
    missing = cluster.kctl("cp", "box:/no/such/file", str(tmp_path / "x"))
    assert missing.returncode == 1 and "cannot read /no/such/file" in missing.stderr
    timeout = cluster.kctl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/box", "--timeout=2s")
    assert timeout.returncode == 1
    assert "error: timed out waiting for the condition on pods/box" in timeout.stderr
    logs = wait_for(lambda: cluster.kctl("logs", "-l", "run=box", "--prefix", "--since=1h").stdout or None,
                    30, "the pod's output")
    assert logs == "[pod/box/box] hello-box\n"
    assert cluster.kctl_ok("logs", "box", "--since-time", "2999-01-01T00:00:00Z") == ""
