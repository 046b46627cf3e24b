"""Real kubectl (the Debian package) against a runc `kubelite up` cluster, through the kubeconfig `up` wrote.

The cluster's KUBECONFIG already holds another cluster's context, which is current: `up` must add its
own context beside it (not take over), and `down` must take it out again (checked at teardown). Every
command's effect is checked in the cluster (by kubectl's own JSON of the objects), not only its exit
code. Streaming (logs, exec, attach, port-forward, cp), server-side apply and CRDs are covered by their
own modules.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelite.kubeconfig import context_name
from tests.e2e.cluster import LocalCluster, free_net_id, random_port_offset, runc_unavailable, wait_for
from tests.e2e.conftest import bring_up, tear_down

pytestmark = [pytest.mark.e2e, pytest.mark.requires_root("runc containers, network namespaces, cgroups")]

KUBECTL = shutil.which("kubectl")
FOREIGN = {"apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
           "clusters": [{"name": "elsewhere", "cluster": {"server": "https://192.0.2.1:6443"}}],
           "users": [{"name": "elsewhere", "user": {"token": "t"}}],
           "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "elsewhere"}}]}


def web(name: str = "web", replicas: int = 2, image: str = "busybox", app: str = "") -> str:
    """A Deployment (pods labelled run=NAME) whose pods stop at once (grace 1s), so rollouts and deletes
    are quick."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {app or name}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{run: {name}}}}}
  template:
    metadata: {{labels: {{run: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: main, image: {image}, command: [sleep, "3600"]}}
"""


class Kubectl:
    """Runs kubectl with the cluster's KUBECONFIG, its context named explicitly, and a fresh cache."""

    def __init__(self, cluster: LocalCluster, tmp: Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        self.context = context_name(cluster.port_offset)
        cache = tmp / "kubectl-cache"
        cache.mkdir()
        self.env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), KUBECACHEDIR=str(cache), HOME=str(tmp))
        self.base = [str(KUBECTL), "--context", self.context, "--cache-dir", str(cache)]

    def run(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})

    def ok(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
           timeout: float = 90) -> str:
        result = self.run(*args, input=input, env=env, timeout=timeout)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def obj(self, *args: str) -> dict[str, Any]:
        data = json.loads(self.ok("get", *args, "-o", "json"))
        assert isinstance(data, dict)
        return data

    def names(self, *args: str) -> list[str]:
        return self.ok("get", *args, "-o", "name").split()

    def gone(self, *args: str) -> bool:
        return not self.run("get", *args, "-o", "name", "--ignore-not-found").stdout.strip()


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    if KUBECTL is None:
        pytest.skip("kubectl (the Debian package) is not installed")
    reason = runc_unavailable()
    if reason:
        pytest.skip(f"runc e2e: {reason}")
    data_dir = Path(tmp_path_factory.mktemp("kc"))
    c = LocalCluster(data_dir, nodes=2, port_offset=random_port_offset(), runtime="runc",
                     net_id=free_net_id())
    c.kubeconfig.write_text(yaml.safe_dump(FOREIGN))
    bring_up(c)
    try:
        yield Kubectl(c, Path(tmp_path_factory.mktemp("kubectl")))
    finally:
        tear_down(c)
        left = yaml.safe_load(c.kubeconfig.read_text())
        assert [x["name"] for x in left["contexts"]] == ["elsewhere"], "kubelite down left its context behind"
        assert [x["name"] for x in left["clusters"]] == ["elsewhere"]
        assert left["current-context"] == "elsewhere"


def test_kubeconfig_discovery_explain_and_auth(kubectl: Kubectl) -> None:
    c = kubectl.cluster
    config = yaml.safe_load(c.kubeconfig.read_text())
    assert stat.S_IMODE(c.kubeconfig.stat().st_mode) == 0o600  # it holds the admin's key
    assert [x["name"] for x in config["contexts"]] == ["elsewhere", kubectl.context]
    assert config["current-context"] == "elsewhere"  # the user's choice is kept
    cluster = next(x["cluster"] for x in config["clusters"] if x["name"] == kubectl.context)
    assert cluster["server"] == c.plan.https_server and cluster["certificate-authority-data"]

    printed = c.kubelite("kubeconfig", "--data-dir", str(c.data_dir))
    assert printed.returncode == 0, printed.stderr
    standalone = kubectl.tmp / "printed-kubeconfig"
    standalone.write_text(printed.stdout)
    assert yaml.safe_load(printed.stdout)["current-context"] == kubectl.context
    nodes = subprocess.run([str(KUBECTL), "--kubeconfig", str(standalone), "--cache-dir", str(kubectl.tmp / "c2"),
                            "get", "nodes", "-o", "name"], capture_output=True, text=True, timeout=60)
    assert nodes.stdout.split() == ["node/node-1", "node/node-2"], nodes.stderr

    assert "Server Version: v1.32" in kubectl.ok("version")
    resources = [line.split() for line in kubectl.ok("api-resources").splitlines()]
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in resources
    explained = kubectl.ok("explain", "deployment.spec.strategy")
    assert "FIELD: strategy <DeploymentStrategy>" in explained
    assert "rollingUpdate\t<RollingUpdateDeployment>" in explained and "type\t<string>" in explained

    assert kubectl.ok("auth", "can-i", "create", "pods").strip() == "yes"
    sa = "system:serviceaccount:default:default"
    denied = kubectl.run("auth", "can-i", "create", "pods", f"--as={sa}")
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    assert "kubernetes-admin" in kubectl.ok("auth", "whoami")
    kubectl.ok("create", "serviceaccount", "robot")
    token = kubectl.ok("create", "token", "robot", "--duration=10m").strip()  # serviceaccounts/token
    as_robot = subprocess.run([str(KUBECTL), "--kubeconfig", os.devnull, "--server", c.plan.https_server,
                               "--certificate-authority", str(c.plan.pki_dir / "ca.crt"), "--token", token,
                               "--cache-dir", str(kubectl.tmp / "c3"), "auth", "whoami", "-o", "json"],
                              capture_output=True, text=True, timeout=60)
    assert as_robot.returncode == 0, as_robot.stderr
    assert json.loads(as_robot.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"


def test_apply_kustomize_prune_and_diff(kubectl: Kubectl) -> None:
    manifest = kubectl.tmp / "web.yaml"
    manifest.write_text(web(replicas=2, app="x") + "---\napiVersion: v1\nkind: ConfigMap\n"
                        "metadata: {name: settings, labels: {app: x}}\ndata: {a: '1'}\n")
    out = kubectl.ok("apply", "-f", str(manifest))
    assert "deployment.apps/web created" in out and "configmap/settings created" in out
    assert kubectl.obj("deploy", "web")["spec"]["replicas"] == 2
    unchanged = kubectl.run("diff", "-f", str(manifest))
    assert unchanged.returncode == 0 and not unchanged.stdout, unchanged.stdout + unchanged.stderr

    manifest.write_text(manifest.read_text().replace("replicas: 2", "replicas: 3"))
    diff = kubectl.run("diff", "-f", str(manifest))
    assert diff.returncode == 1, diff.stderr  # 1: there are differences
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 3" in diff.stdout
    assert kubectl.obj("deploy", "web")["spec"]["replicas"] == 2  # diff changed nothing
    assert "deployment.apps/web configured" in kubectl.ok("apply", "-f", str(manifest))
    applied = kubectl.obj("deploy", "web")
    assert applied["spec"]["replicas"] == 3
    assert '"replicas":3' in applied["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]

    kustomize = kubectl.tmp / "kustomize"
    kustomize.mkdir()
    (kustomize / "kustomization.yaml").write_text(
        "namePrefix: kz-\nlabels:\n- pairs: {app: kz}\n  includeSelectors: false\nresources: [cm.yaml]\n"
        "configMapGenerator:\n- name: gen\n  literals: [k=v]\n")
    (kustomize / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {x: y}\n")
    kubectl.ok("apply", "-k", str(kustomize))
    made = kubectl.names("cm", "-l", "app=kz")
    assert "configmap/kz-plain" in made and any(n.startswith("configmap/kz-gen-") for n in made), made
    generated = kubectl.obj("cm", "-l", "app=kz")["items"]
    assert {"k": "v"} in [item["data"] for item in generated]

    # Prune: `settings` is no longer in the set labelled app=x, so it goes. kubectl's default prune
    # list names kinds kubelite does not serve (PersistentVolumeClaim, Ingress, ...), so the test
    # names the kinds (see the module report).
    kept = kubectl.tmp / "kept.yaml"
    kept.write_text(manifest.read_text().split("---")[0])
    pruned = kubectl.ok("apply", "--prune", "-l", "app=x", "--prune-allowlist=core/v1/ConfigMap",
                        "--prune-allowlist=apps/v1/Deployment", "-f", str(kept))
    assert "configmap/settings pruned" in pruned
    assert kubectl.gone("cm", "settings") and not kubectl.gone("deploy", "web")
    assert not kubectl.gone("cm", "kz-plain")  # other labels are not the prune set


def test_create_generators_run_and_expose(kubectl: Kubectl) -> None:
    """`create <generator>` bodies are protobuf (kubectl 1.32's typed clients); each object is checked."""
    kubectl.ok("create", "deployment", "gen", "--image=busybox", "--replicas=2", "--port=8080", "--", "sleep", "3600")
    dep = kubectl.obj("deploy", "gen")
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["selector"]["matchLabels"] == {"app": "gen"}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["command"], container["ports"][0]["containerPort"]) == \
        ("busybox", ["sleep", "3600"], 8080)
    kubectl.ok("create", "service", "clusterip", "gen-svc", "--tcp=80:8080")
    svc = kubectl.obj("svc", "gen-svc")
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["clusterIP"] and svc["spec"]["type"] == "ClusterIP"
    kubectl.ok("create", "configmap", "gen-cm", "--from-literal=colour=blue", "--from-literal=n=1")
    assert kubectl.obj("cm", "gen-cm")["data"] == {"colour": "blue", "n": "1"}
    kubectl.ok("create", "secret", "generic", "gen-secret", "--from-literal=password=s3cret")
    secret = kubectl.obj("secret", "gen-secret")
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcmV0"}
    kubectl.ok("create", "namespace", "kc-ns")
    assert kubectl.obj("ns", "kc-ns")["status"]["phase"] == "Active"

    kubectl.ok("run", "solo", "--image=busybox", "--labels=a=x,tier=one", "--", "sleep", "3600")
    pod = kubectl.obj("pod", "solo")
    assert pod["metadata"]["labels"] == {"a": "x", "tier": "one"}
    assert pod["spec"]["containers"][0]["args"] == ["sleep", "3600"]  # `run -- CMD` sets args
    kubectl.ok("expose", "deployment", "gen", "--port=80", "--target-port=8080", "--name=gen-exposed")
    exposed = kubectl.obj("svc", "gen-exposed")
    assert exposed["spec"]["selector"] == {"app": "gen"} and exposed["spec"]["ports"][0]["targetPort"] == 8080
    kubectl.ok("wait", "--for=condition=Available", "deploy/gen", "--timeout=90s")
    endpoints = wait_for(lambda: kubectl.obj("endpoints", "gen-exposed").get("subsets"), 30, "gen-exposed endpoints")
    assert len(endpoints[0]["addresses"]) == 2
    # These pods have the default 30s grace, which `sleep` (ignoring SIGTERM) would use up.
    kubectl.ok("delete", "deploy", "gen", "--cascade=orphan")
    kubectl.ok("delete", "rs,pods", "-l", "app=gen", "--grace-period=1")
    kubectl.ok("delete", "pod", "solo", "--grace-period=1")


def test_get_output_formats_selectors_and_watch(kubectl: Kubectl) -> None:
    for name, labels in (("sel-x", "a=x"), ("sel-y", "a=y"), ("sel-z", "a=z")):
        kubectl.ok("create", "configmap", name, "--from-literal=v=1")
        kubectl.ok("label", "cm", name, labels)
    wide = kubectl.ok("get", "nodes", "-o", "wide").splitlines()
    assert wide[0].split()[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert [line.split()[0] for line in wide[1:]] == ["node-1", "node-2"]
    assert "name: sel-x" in kubectl.ok("get", "cm", "sel-x", "-o", "yaml")
    assert json.loads(kubectl.ok("get", "cm", "sel-x", "-o", "json"))["data"] == {"v": "1"}
    assert kubectl.names("cm", "-l", "a in (x,y)") == ["configmap/sel-x", "configmap/sel-y"]
    assert kubectl.ok("get", "cm", "sel-y", "-o", "jsonpath={.metadata.labels.a}") == "y"
    columns = kubectl.ok("get", "cm", "-l", "a", "-o", "custom-columns=NAME:.metadata.name,A:.metadata.labels.a")
    assert [line.split() for line in columns.splitlines()] == [["NAME", "A"], ["sel-x", "x"], ["sel-y", "y"],
                                                              ["sel-z", "z"]]
    everywhere = kubectl.ok("get", "sa", "-A").splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE"
    assert {"kube-system", "default"} <= {line.split()[0] for line in everywhere[1:]}
    labelled = kubectl.ok("get", "cm", "sel-z", "--show-labels").splitlines()
    assert labelled[0].split()[-1] == "LABELS" and labelled[1].split()[-1] == "a=z"
    assert kubectl.names("cm", "--field-selector", "metadata.name=sel-y") == ["configmap/sel-y"]
    assert kubectl.names("ns", "--field-selector", "status.phase=Active")

    # -w: the initial state, then the update, as separate lines of one never-ending response.
    watcher = subprocess.Popen([*kubectl.base, "get", "cm", "sel-x", "-w", "-o", "jsonpath={.data.v}{\"\\n\"}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl.env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in watcher.stdout or []], daemon=True).start()
    try:
        assert lines.get(timeout=30) == "1"
        kubectl.ok("patch", "cm", "sel-x", "--type", "merge", "-p", '{"data":{"v":"2"}}')
        deadline = time.monotonic() + 30
        seen = []
        while "2" not in seen and time.monotonic() < deadline:
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        assert "2" in seen, seen
    finally:
        watcher.kill()
        watcher.wait(10)


def test_autoscale_get_and_describe_hpa(kubectl: Kubectl) -> None:
    """kubectl 1.32 creates autoscaling/v1 (as protobuf); the server stores v2 and serves both."""
    kubectl.ok("apply", "-f", "-", input=web("hpa-web", replicas=1))
    assert "horizontalpodautoscaler.autoscaling/hpa-web autoscaled" in kubectl.ok(
        "autoscale", "deployment", "hpa-web", "--cpu-percent=50", "--min=1", "--max=3")
    header, row = kubectl.ok("get", "hpa", "hpa-web").splitlines()
    assert header.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row.split()[:6] == ["hpa-web", "Deployment/hpa-web", "cpu:", "<unknown>/50%", "1", "3"]
    stored = kubectl.obj("hpa", "hpa-web")
    assert stored["apiVersion"] == "autoscaling/v2"
    assert stored["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    v1 = json.loads(kubectl.ok("get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/"
                                              "hpa-web"))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    described = kubectl.ok("describe", "hpa", "hpa-web")
    assert "Reference:" in described and "Deployment/hpa-web" in described
    kubectl.ok("delete", "hpa", "hpa-web")
    kubectl.ok("delete", "deployment", "hpa-web")


def test_label_annotate_patch_image_scale_and_edit(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", input=web("mut", replicas=1))
    kubectl.ok("label", "deploy", "mut", "tier=fe")
    kubectl.ok("annotate", "deploy", "mut", "note=hello")
    kubectl.ok("patch", "deploy", "mut", "--type", "strategic", "-p",
               '{"spec":{"template":{"spec":{"containers":[{"name":"main","env":[{"name":"A","value":"1"}]}]}}}}')
    kubectl.ok("patch", "deploy", "mut", "--type", "merge", "-p", '{"spec":{"minReadySeconds":1}}')
    kubectl.ok("patch", "deploy", "mut", "--type", "json", "-p",
               '[{"op":"add","path":"/metadata/labels/j","value":"z"}]')
    kubectl.ok("set", "image", "deploy/mut", "main=busybox:1.35")
    kubectl.ok("scale", "deploy", "mut", "--replicas=2")
    dep = kubectl.obj("deploy", "mut")
    assert dep["metadata"]["labels"] == {"app": "mut", "tier": "fe", "j": "z"}
    assert dep["metadata"]["annotations"]["note"] == "hello"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "main" and container["env"] == [{"name": "A", "value": "1"}]
    assert container["image"] == "busybox:1.35" and container["command"] == ["sleep", "3600"]
    assert dep["spec"]["minReadySeconds"] == 1 and dep["spec"]["replicas"] == 2

    editor = kubectl.tmp / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^  replicas: .*/  replicas: 1/; s/note: hello/note: edited/' \"$1\"\n")
    editor.chmod(0o755)
    assert "deployment.apps/mut edited" in kubectl.ok("edit", "deploy", "mut", env={"KUBE_EDITOR": str(editor)})
    dep = kubectl.obj("deploy", "mut")
    assert dep["spec"]["replicas"] == 1 and dep["metadata"]["annotations"]["note"] == "edited"
    kubectl.ok("rollout", "status", "deploy/mut", "--timeout=90s")
    assert kubectl.obj("deploy", "mut")["status"]["availableReplicas"] == 1


def _template_images(kubectl: Kubectl) -> list[str]:
    return [c["image"] for c in kubectl.obj("deploy", "roll")["spec"]["template"]["spec"]["containers"]]


def test_rollout_wait_describe_and_events(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", input=web("roll", replicas=2))
    kubectl.ok("wait", "--for=condition=Available", "deploy/roll", "--timeout=90s")
    assert "successfully rolled out" in kubectl.ok("rollout", "status", "deploy/roll", "--timeout=90s")
    kubectl.ok("set", "image", "deploy/roll", "main=busybox:1.35")
    assert "successfully rolled out" in kubectl.ok("rollout", "status", "deploy/roll", "--timeout=120s")
    history = kubectl.ok("rollout", "history", "deploy/roll").split()
    assert history[:2] == ["deployment.apps/roll", "REVISION"] and "1" in history and "2" in history
    assert "busybox:1.35" in kubectl.ok("rollout", "history", "deploy/roll", "--revision=2")

    kubectl.ok("rollout", "undo", "deploy/roll")
    assert _template_images(kubectl) == ["busybox"]
    kubectl.ok("rollout", "status", "deploy/roll", "--timeout=120s")
    kubectl.ok("rollout", "restart", "deploy/roll")
    restarted = kubectl.obj("deploy", "roll")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted
    kubectl.ok("rollout", "status", "deploy/roll", "--timeout=120s")
    pods = kubectl.obj("pods", "-l", "run=roll")["items"]
    live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
    assert len(live) == 2 and all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in live)
    rows = kubectl.ok("rollout", "history", "deploy/roll").splitlines()[2:]
    assert [row.split()[0] for row in rows if row.strip()] == ["2", "3", "4"]  # undo: 1 became 3; restart: 4

    described = kubectl.ok("describe", "deploy", "roll")
    assert "Events:" in described and "ScalingReplicaSet" in described
    assert "NewReplicaSetAvailable" in described or "MinimumReplicasAvailable" in described
    pod = live[0]["metadata"]["name"]
    described = kubectl.ok("describe", "pod", pod)
    assert re.search(rf"^Name:\s+{pod}$", described, re.M) and "Scheduled" in described and "Started" in described
    events = kubectl.ok("get", "events", "--sort-by=.lastTimestamp", "-o",
                        "custom-columns=T:.lastTimestamp,R:.reason", "--no-headers").splitlines()
    stamps = [line.split()[0] for line in events if line.split()[0] != "<none>"]
    assert stamps == sorted(stamps) and len(stamps) > 5


def test_delete_cascades_grace_cordon_and_drain(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", input=web("orphan", replicas=1))
    wait_for(lambda: kubectl.names("rs", "-l", "run=orphan"), 30, "the orphan deployment's replica set")
    kubectl.ok("delete", "deploy", "orphan", "--cascade=orphan")
    rs = kubectl.obj("rs", "-l", "run=orphan")["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")  # orphaned, not deleted
    kubectl.ok("delete", "rs", "-l", "run=orphan", "--cascade=foreground", "--grace-period=1")
    assert kubectl.gone("rs", "-l", "run=orphan")  # foreground: kubectl returned once it was gone
    wait_for(lambda: kubectl.gone("pods", "-l", "run=orphan"), 30, "the orphaned pods to go")

    kubectl.ok("apply", "-f", "-", input=web("bg", replicas=1))
    wait_for(lambda: kubectl.names("pods", "-l", "run=bg"), 30, "the bg pod")
    kubectl.ok("delete", "deploy", "bg", "--cascade=background")
    wait_for(lambda: kubectl.gone("rs,pods", "-l", "run=bg"), 60, "background deletion of the bg dependents")

    kubectl.ok("run", "quick", "--image=busybox", "--", "sleep", "3600")
    wait_for(lambda: kubectl.obj("pod", "quick")["status"].get("phase") == "Running", 60, "pod quick to run")
    started = time.monotonic()
    kubectl.ok("delete", "pod", "quick", "--grace-period=1")  # sleep ignores SIGTERM: the grace is what ends it
    assert time.monotonic() - started < 20 and kubectl.gone("pod", "quick")

    kubectl.ok("apply", "-f", "-", input=web("drained", replicas=2))
    kubectl.ok("wait", "--for=condition=Available", "deploy/drained", "--timeout=90s")
    kubectl.ok("cordon", "node-1")
    assert kubectl.obj("node", "node-1")["spec"]["unschedulable"] is True
    drained = kubectl.ok("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                         "--timeout=90s")
    assert "evicted" in drained  # through pods/eviction, not plain deletes
    try:
        def moved() -> bool:
            pods = [p for p in kubectl.obj("pods", "-l", "run=drained")["items"]
                    if "deletionTimestamp" not in p["metadata"]]
            return len(pods) == 2 and all(p["spec"].get("nodeName") == "node-2" for p in pods)
        wait_for(moved, 60, "the drained pods to run on node-2")
        assert not [p for p in kubectl.obj("pods", "-A")["items"] if p["spec"].get("nodeName") == "node-1"]
    finally:
        kubectl.ok("uncordon", "node-1")
    assert not kubectl.obj("node", "node-1")["spec"].get("unschedulable")
