"""e2e: `kubelite build` the two-stage example into a runc cluster's registry, deploy it,
and check from inside the pods that the Dockerfile's file, USER, WORKDIR and ENV hold."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import LocalCluster, wait_for
from tests.e2e.svchelpers import is_ready, items

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc cluster and runc RUN steps")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"


def test_build_deploy_and_inspect(runc_cluster: LocalCluster) -> None:
    c = runc_cluster
    built = c.kubelite("build", "-t", "webapp:1", "--data-dir", str(c.data_dir), str(EXAMPLE), timeout=300)
    assert built.returncode == 0, f"build failed:\n{built.stdout}\n{built.stderr}"
    assert "pushed " in built.stdout and f"layer cache: {c.data_dir}" in built.stdout, built.stdout
    started = time.monotonic()
    again = c.kubelite("build", "-t", "webapp:1", "--data-dir", str(c.data_dir), str(EXAMPLE), timeout=120)
    assert again.returncode == 0 and "(5/5 layer steps cached)" in again.stdout, again.stdout
    print(f"unchanged rebuild: {time.monotonic() - started:.2f}s including interpreter start;",
          *[line for line in again.stdout.splitlines() if line.startswith(("built ", "total "))])
    c.kctl_ok("apply", "-f", str(EXAMPLE / "deploy.yaml"))

    def ready_pods() -> list[dict[str, Any]] | None:
        pods = [p for p in items(c, "pods", "-l", "app=webapp") if is_ready(p)]
        return pods if len(pods) == 2 else None

    pods = wait_for(ready_pods, 120, "two ready webapp pods")
    for p in pods:
        name = p["metadata"]["name"]
        out = c.kctl_ok("exec", name, "--", "sh", "-c", "id -u; pwd; echo $APP_MODE; cat index.html")
        uid, cwd, mode, *page = out.splitlines()
        assert (uid, cwd, mode) == ("1000", "/www", "production"), out
        assert "<h1>Hello from kubelite build</h1>" in "\n".join(page)
    fetched = c.kctl_ok("exec", pods[0]["metadata"]["name"], "--", "wget", "-qO-", "http://127.0.0.1:8080/static/site.css")
    assert "font-family" in fetched
