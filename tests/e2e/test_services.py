"""End to end: Services route real traffic between pods on different nodes (issue 5).

A 3-node runc cluster (`kubelite up` with its proxies and cluster DNS). A
Deployment of busybox `httpd` replicas, each serving its own pod name, sits
behind a ClusterIP Service, a NodePort Service and a headless Service; the
replicas are kept off node-1, where the client pod runs, so every request
crosses nodes. All checks are what a client sees: answers, their spread, and
their timing against what the API says.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.request
from typing import Any

import pytest

from kubelite.procs import http_get_status
from tests.e2e.cluster import LocalCluster, wait_for
from tests.e2e.svchelpers import (
    LOOP_SCRIPT,
    RequestLoop,
    Sampler,
    apply,
    get_json,
    is_ready,
    live,
    now,
    pod_exec,
    pod_running,
    ready_pods,
    runc_container_running,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 8  # httpd as PID 1 ignores SIGTERM: it serves until the grace ends
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: kubernetes.io/hostname, operator: NotIn, values: [node-1]}]
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo $POD > /www/index.html && exec httpd -f -p 8080 -h /www"]
        env:
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: node-1}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]}]
"""

FQDN_URL = "http://web.default.svc.cluster.local"


def names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def proxy_ready(health: str, netns: str | None) -> bool:
    return asyncio.run(http_get_status(health, "/readyz", netns=netns)) == 200


def endpoint_ips(c: LocalCluster, name: str) -> set[str]:
    ep = get_json(c, "endpoints", name)
    return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}


@pytest.fixture(scope="module")
def svc(runc_cluster: LocalCluster) -> LocalCluster:
    c = runc_cluster
    out = apply(c, MANIFESTS)
    assert "service/web created" in out and "pod/client created" in out
    pods = wait_ready(c, "app=web", 3)
    pod_running(c, "client")
    assert all(p["spec"]["nodeName"] != "node-1" for p in pods)
    want = {p["status"]["podIP"] for p in pods}
    wait_for(lambda: endpoint_ips(c, "web") == want, 10, "the web Endpoints to list the 3 ready pods")
    return c


def test_300_requests_by_dns_name_all_succeed_and_spread_evenly(svc: LocalCluster) -> None:
    pods = names(wait_ready(svc, "app=web", 3))
    t0 = time.monotonic()
    out = pod_exec(svc, "client", f"for i in $(seq 300); do timeout 5 wget -q -O- {FQDN_URL} || echo FAIL; done")
    print(f"300 requests in {time.monotonic() - t0:.1f}s (incl. exec)")
    answers = [line.strip() for line in out.splitlines() if line.strip()]
    counts = {name: answers.count(name) for name in pods}
    print(f"spread: {counts}")
    assert len(answers) == 300 and "FAIL" not in answers, f"failed or odd answers: {set(answers) - pods}"
    assert set(answers) == pods
    assert min(counts.values()) >= 0.15 * 300, f"a replica got less than 15%: {counts}"
    # The search list of the pod's resolv.conf makes the short name work too.
    resolv = pod_exec(svc, "client", "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv and "ndots:5" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert pod_exec(svc, "client", "timeout 5 wget -q -O- http://web/").strip() in pods


def test_kctl_shows_services_and_endpoints(svc: LocalCluster) -> None:
    table = svc.kctl_ok("get", "svc")
    assert table.splitlines()[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert re.search(r"web-np\s+NodePort\s+10\.\S+\s+<none>\s+80:3\d{4}/TCP", table), table
    assert re.search(r"web-headless\s+ClusterIP\s+None\s", table), table
    assert "10.96.0.10" in svc.kctl_ok("get", "-n", "kube-system", "svc", "kube-dns")
    assert ":8080" in svc.kctl_ok("get", "endpoints", "web")
    described = svc.kctl_ok("describe", "svc", "web")
    for field in ("Name:", "Selector:", "IP:", "Port:", "TargetPort:", "Endpoints:"):
        assert re.search(rf"^{field}", described, re.M), f"{field} missing:\n{described}"


def test_headless_service_resolves_to_the_pod_ips(svc: LocalCluster) -> None:
    ips = {p["status"]["podIP"] for p in wait_ready(svc, "app=web", 3)}
    out = pod_exec(svc, "client", "nslookup web-headless.default.svc.cluster.local")
    answer = out.split("Name:", 1)[-1]
    assert set(re.findall(r"Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$", answer, re.M)) == ips, out
    cluster_ip = get_json(svc, "svc", "web")["spec"]["clusterIP"]
    assert cluster_ip in pod_exec(svc, "client", "nslookup web.default.svc.cluster.local").split("Name:", 1)[-1]


def test_a_pod_reaches_its_own_service_hairpin(svc: LocalCluster) -> None:
    me = sorted(names(wait_ready(svc, "app=web", 3)))[0]
    out = pod_exec(svc, me, "for i in $(seq 30); do timeout 5 wget -q -O- http://web/ || echo FAIL; done")
    answers = out.split()
    assert len(answers) == 30 and "FAIL" not in answers, answers
    assert me in answers, f"{me} never answered itself through its Service: {set(answers)}"


def test_nodeport_answers_on_every_node_ip(svc: LocalCluster) -> None:
    port = get_json(svc, "svc", "web-np")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    pods = names(wait_ready(svc, "app=web", 3))
    assert svc.plan.network is not None
    for node in svc.plan.network.nodes:
        url = f"http://{node.ip}:{port}/"

        def fetch(url: str = url) -> str | None:
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:
                    return str(resp.read().decode().strip())
            except OSError:
                return None
        answer = wait_for(fetch, 10, f"{url} to answer")
        assert answer in pods, f"{url} answered {answer!r}"


def test_scaled_up_replicas_join_rotation_within_2s_of_ready(svc: LocalCluster) -> None:
    before = names(wait_ready(svc, "app=web", 3))

    def readiness(pods: list[dict[str, Any]]) -> dict[str, bool]:
        return {p["metadata"]["name"]: is_ready(p) for p in pods if live(p)}

    with Sampler(svc, "pods", readiness, selector="app=web") as sampler, \
            RequestLoop(svc, "client", "http://web/") as loop:
        svc.kctl_ok("scale", "deploy/web", "--replicas=5")
        sampler.wait(lambda s: len(s) == 5 and all(s.values()), 90, "5 ready web pods")
        new = set(sampler.samples[-1][1]) - before
        assert len(new) == 2
        ready_at = {n: next(t for t, s in sampler.samples if s.get(n)) for n in new}
        loop.wait_served(lambda r: all(r.first(n) is not None for n in new), 10, "the new replicas to answer")
    delays = {n: round(loop.result.first(n) - ready_at[n], 2) for n in new}  # type: ignore[operator]
    print(f"new replica first answer after Ready (API): {delays}")
    assert all(d <= 2.0 for d in delays.values()), delays
    assert not loop.result.failures, f"{len(loop.result.failures)} failed requests while scaling"


def test_deleted_pod_leaves_rotation_before_its_container_stops(svc: LocalCluster) -> None:
    pods = wait_ready(svc, "app=web", 5)
    victim = pods[0]
    name, ip = victim["metadata"]["name"], victim["status"]["podIP"]
    container_id = victim["status"]["containerStatuses"][0]["containerID"]
    assert runc_container_running(svc, container_id)
    def web_ips(eps: list[dict[str, Any]]) -> set[str]:
        return {a["ip"] for e in eps if e["metadata"]["name"] == "web"
                for s in e.get("subsets") or [] for a in s.get("addresses") or []}

    with Sampler(svc, "endpoints", web_ips) as sampler, RequestLoop(svc, "client", "http://web/") as loop:
        loop.wait_served(lambda r: r.first(name) is not None, 10, f"{name} to answer before deletion")
        deleted = now()
        svc.kctl_ok("delete", "pod", name, "--wait=false")
        removed = sampler.wait(lambda ips: ip not in ips, 10, f"{ip} to leave the Endpoints", since=deleted)
        assert runc_container_running(svc, container_id), "the container stopped before leaving the Endpoints"
        wait_for(lambda: not runc_container_running(svc, container_id), 30, f"the container of {name} to stop",
                 interval=0.05)
        stopped = now()
        wait_ready(svc, "app=web", 5)
    last = loop.result.last(name)
    assert last is not None and last < removed < stopped, (last, removed, stopped)
    print(f"{name}: last answer {last - deleted:.2f}s after the delete; Endpoints change seen after "
          f"{removed - deleted:.2f}s; container seen stopped after {stopped - deleted:.2f}s")
    assert not loop.result.failures, f"{len(loop.result.failures)} failed requests around the deletion"


def test_restarting_the_proxies_loses_no_request(svc: LocalCluster) -> None:
    wait_ready(svc, "app=web", 5)
    proxies = [c.name for c in svc.plan.components if c.name.startswith("proxy-")]
    assert len(proxies) == 3
    with RequestLoop(svc, "client", "http://web/") as loop:
        for name in proxies:
            svc.kill_component(name)
        n = len(loop.result.answers)
        loop.wait_served(lambda r: len(r.answers) >= n + 20, 20, "requests while no proxy runs")
        for name in proxies:
            svc.restart_component(name)
        healths = [(comp.health, comp.netns) for comp in svc.plan.components if comp.name in proxies]
        wait_for(lambda: all(proxy_ready(h, ns) for h, ns in healths), 30, "the restarted proxies to be ready")
        n = len(loop.result.answers)
        loop.wait_served(lambda r: len(r.answers) >= n + 50, 20, "requests after the proxies restarted")
    counts = loop.result.counts()
    print(f"answers across the proxy restart: {counts}")
    assert not loop.result.failures, f"{len(loop.result.failures)} of {len(loop.result.answers)} requests failed"
    assert len([b for b in counts if b.startswith("web-")]) == 5, "every replica stays in rotation"


def test_killed_components_come_back_within_10s_losing_no_service_request(svc: LocalCluster) -> None:
    """kill -9, one at a time, each control-plane kind and a kubelet while a pod loops through a Service:
    the supervisor brings each back (ready) within 10 s and no request fails (the data path does not need
    the control plane). The loop runs as the pod's own command, not through `kctl exec`: an exec stream
    goes through the apiserver, which is one of the victims; its log is read once everything is back."""
    wait_for(lambda: len(ready_pods(svc, "app=web")) >= 3, 90, "ready web pods (3, or 5 after the scale-up test)")
    loop = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kill-loop"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": "node-1"}, "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": "busybox",
                        "command": ["sh", "-c", LOOP_SCRIPT, "sh", "http://web/", "300", "/tmp/stop", "0.05"]}]}})
    apply(svc, loop)
    pod_running(svc, "kill-loop")
    wait_for(lambda: svc.kctl_ok("logs", "kill-loop").count("\n") >= 5, 30, "the loop's first answers")
    backs = {}
    for name in ("apiserver", "scheduler", "controller-manager", "kvstore-2", "kubelet-node-2"):
        before = svc.supervised(name)
        os.kill(int(before["pid"]), signal.SIGKILL)
        t0 = time.monotonic()
        def back(n: str = name, pid: int = int(before["pid"])) -> bool:
            return svc.restarted_and_ready(n, pid)
        wait_for(back, 10, f"{name} back and ready")
        backs[name] = round(time.monotonic() - t0, 1)
        assert svc.supervised(name)["restarts"] == before["restarts"] + 1
    status = svc.kubelite("status", "--data-dir", str(svc.data_dir))
    assert all(re.search(rf"^{n}\s+Running\s+\d+\s+[1-9]", status.stdout, re.M) for n in backs), status.stdout
    svc.kctl_ok("exec", "kill-loop", "--", "touch", "/tmp/stop")
    wait_for(lambda: get_json(svc, "pod", "kill-loop")["status"].get("phase") == "Succeeded", 30, "the loop's end")
    answers = [ln.split(" ", 1)[1] for ln in svc.kctl_ok("logs", "kill-loop").splitlines()
               if " " in ln and not ln.endswith(" END")]
    failed = answers.count("FAIL")
    print(f"back after kill -9 (s): {backs}; {len(answers)} requests, {failed} failed")
    svc.kctl("delete", "pod", "kill-loop")
    assert len(answers) > 50 and failed == 0, f"{failed} of {len(answers)} requests failed"
