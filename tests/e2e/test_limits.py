"""End to end through `kctl` on a real cluster: limits stop a typo and a namespace's quota
holds, while LimitRange defaults land on the pods a user creates."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.e2e.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.e2e


def namespace(c: LocalCluster) -> str:
    name = f"limits-{uuid.uuid4().hex[:6]}"
    c.kctl_ok("create", "namespace", name)
    return name


def pod_yaml(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: busybox:1.35, command: ["sleep", "3600"]}}
"""


def deployment_yaml(name: str, replicas: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: main, image: busybox:1.35, command: ["sleep", "3600"]}}
"""


def get_json(c: LocalCluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(c.kctl_ok("get", *args, "-o", "json")))


@pytest.mark.parametrize(("replicas", "error"), [
    ("2147483648", "spec.replicas: Invalid value: 2147483648: must be less than or equal to 2147483647"),
    ("1.0e+12", "spec.replicas: Invalid value: 1000000000000: must be less than or equal to 2147483647"),
    ("1e12", 'spec.replicas: expected integer, got string "1e12"'),  # YAML 1.1 reads 1e12 as a string
])
def test_out_of_range_replicas_are_refused_naming_the_field(cluster: LocalCluster, replicas: str, error: str) -> None:
    name = f"huge-{uuid.uuid4().hex[:6]}"
    r = cluster.kctl("apply", "-f", "-", input=deployment_yaml(name, replicas))
    assert r.returncode == 1
    assert error in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert cluster.kctl("get", "deployment", name).returncode == 1, "nothing was stored"


@pytest.mark.parametrize("verb", ["create", "apply"])
def test_a_3_mib_config_map_gets_a_clear_error(cluster: LocalCluster, verb: str) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{verb}"},
                           "data": {"blob": "x" * (3 * 1024 * 1024)}})
    r = cluster.kctl(verb, "-f", "-", input=manifest)
    assert r.returncode == 1
    assert "must have at most 1048576 bytes" in r.stderr or "Request entity too large: limit is 3145728" in r.stderr, \
        r.stderr
    assert "RESOURCE_EXHAUSTED" not in r.stderr and "InternalError" not in r.stderr, r.stderr


def test_deeply_nested_manifest_is_refused_without_a_traceback(cluster: LocalCluster) -> None:
    r = cluster.kctl("apply", "-f", "-", input="a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    assert r.returncode == 1
    assert "nested too deeply" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_quota_stops_the_fourth_pod_and_a_deployment_stays_at_three(cluster: LocalCluster) -> None:
    c = cluster
    ns = namespace(c)
    try:
        c.kctl_ok("apply", "-n", ns, "-f", "-", input="""
apiVersion: v1
kind: ResourceQuota
metadata: {name: three}
spec: {hard: {pods: "3"}}
""")
        for i in range(3):
            c.kctl_ok("apply", "-n", ns, "-f", "-", input=pod_yaml(f"p{i}"))
        r = c.kctl("apply", "-n", ns, "-f", "-", input=pod_yaml("p3"))
        assert r.returncode == 1
        assert 'pods "p3" is forbidden: exceeded quota: three, requested: pods=1, used: pods=3, limited: pods=3' \
            in r.stderr, r.stderr
        assert "pods: 3/3" in c.kctl_ok("get", "resourcequota", "three", "-n", ns)
        assert re.search(r"\npods\s+3\s+3\n", c.kctl_ok("describe", "quota", "three", "-n", ns))

        # Room for three pods only: free the slots, then a Deployment of 5 gets 3 and says why not more.
        c.kctl_ok("delete", "pod", "p0", "p1", "p2", "-n", ns, "--grace-period", "0", "--force")
        c.kctl_ok("apply", "-n", ns, "-f", "-", input=deployment_yaml("web", "5"))

        def three_pods_and_a_failed_create() -> bool | None:
            pods = [p for p in get_json(c, "pods", "-n", ns)["items"] if not p["metadata"].get("deletionTimestamp")]
            events = get_json(c, "events", "-n", ns)["items"]
            failed = [e for e in events if e.get("reason") == "FailedCreate"
                      and e.get("involvedObject", {}).get("kind") == "ReplicaSet"
                      and "exceeded quota: three" in e.get("message", "")]
            return True if len(pods) == 3 and failed else None

        wait_for(three_pods_and_a_failed_create, 90, "3 pods of 5 and a FailedCreate event for the quota")
        used = get_json(c, "resourcequota", "three", "-n", ns)["status"]["used"]
        assert used == {"pods": "3"}
        assert len([p for p in get_json(c, "pods", "-n", ns)["items"]]) == 3, "still 3: the quota holds"
    finally:
        c.kctl("delete", "namespace", ns, timeout=120)


def test_limit_range_default_appears_on_a_pod_without_resources(cluster: LocalCluster) -> None:
    c = cluster
    ns = namespace(c)
    try:
        c.kctl_ok("apply", "-n", ns, "-f", "-", input="""
apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 300m, memory: 128Mi}
    defaultRequest: {cpu: 100m, memory: 64Mi}
    max: {cpu: "1"}
""")
        described = c.kctl_ok("describe", "limitrange", "defaults", "-n", ns)
        assert re.search(r"Container\s+cpu\s+-\s+1\s+100m\s+300m\s+-", described), described
        c.kctl_ok("apply", "-n", ns, "-f", "-", input=pod_yaml("plain"))
        resources = get_json(c, "pod", "plain", "-n", ns)["spec"]["containers"][0]["resources"]
        assert resources == {"limits": {"cpu": "300m", "memory": "128Mi"},
                             "requests": {"cpu": "100m", "memory": "64Mi"}}
        greedy = pod_yaml("greedy").replace('command: ["sleep", "3600"]}',
                                            'command: ["sleep", "3600"], resources: {limits: {cpu: "2"}}}')
        r = c.kctl("apply", "-n", ns, "-f", "-", input=greedy)
        assert r.returncode == 1
        assert 'maximum cpu usage per Container is 1, but limit is 2 (container "main")' in r.stderr, r.stderr
    finally:
        c.kctl("delete", "namespace", ns, timeout=120)
