"""kctl's everyday verbs against a real kvstore + apiserver: label, annotate, patch, set, -o templates."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.kubectl.test_kctl import CONFIGMAP, Kctl, deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def test_label_adds_refuses_overwrite_and_removes(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    assert await kctl.ok("label", "configmap", "settings", "tier=web", "team=a") == "configmap/settings labeled\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["metadata"]["labels"] == {"tier": "web", "team": "a"}
    refused = await kctl("label", "cm/settings", "tier=db")
    assert refused.code == 1
    assert "'tier' already has a value (web), and --overwrite is false" in refused.err
    assert await kctl.ok("label", "cm/settings", "tier=db", "--overwrite") == "configmap/settings labeled\n"
    assert await kctl.ok("label", "cm", "settings", "team-") == "configmap/settings unlabeled\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["metadata"]["labels"] == {"tier": "db"}


async def test_label_by_selector_and_all(kctl: Kctl, control_plane: ControlPlane) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await kctl.ok("create", "configmap", name, "--from-literal", "k=v")
        await kctl.ok("label", "cm", name, f"app={app}")
    assert await kctl.ok("label", "cm", "-l", "app=x", "picked=yes") == \
        "configmap/a labeled\nconfigmap/b labeled\n"
    assert await kctl.ok("annotate", "cm", "--all", "note=hi") == \
        "configmap/a annotated\nconfigmap/b annotated\nconfigmap/c annotated\n"
    out = await kctl.ok("get", "cm", "-l", "picked=yes", "-o", "jsonpath={.items[*].metadata.name}")
    assert out == "a b"
    c = await control_plane.client.get_raw("configmaps", "c", "default")
    assert c["metadata"]["annotations"]["note"] == "hi" and "picked" not in c["metadata"]["labels"]


async def test_patch_strategic_merge_and_json(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web", 2))
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"busybox:1.36"}]}}}}'
    assert await kctl.ok("patch", "deploy", "web", "-p", patch) == "deployment.apps/web patched\n"
    live = await control_plane.client.get_raw("deployments", "web", "default")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36" and container["command"] == ["sh", "-c", "sleep 1000"]
    assert await kctl.ok("patch", "deploy/web", "--type", "merge", "-p", "spec: {replicas: 5}") == \
        "deployment.apps/web patched\n"
    ops = json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 1}])
    await kctl.ok("patch", "deploy/web", "--type=json", "-p", ops)
    live = await control_plane.client.get_raw("deployments", "web", "default")
    assert live["spec"]["replicas"] == 1
    assert await kctl.ok("patch", "deploy/web", "--type=json", "-p", ops) == \
        "deployment.apps/web patched (no change)\n"
    bad = await kctl("patch", "deploy/web", "--type=json", "-p", '[{"op":"remove","path":"/spec/nope"}]')
    assert bad.code == 1 and "Traceback" not in bad.err


async def test_output_templates(kctl: Kctl) -> None:
    for name in ("b", "a"):
        await kctl.ok("create", "configmap", name, "--from-literal", f"key={name}1")
    out = await kctl.ok("get", "cm", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.data.key}{"\\n"}{end}')
    assert out == "a\ta1\nb\tb1\n"
    out = await kctl.ok("get", "cm", "--sort-by=.data.key", "-o", "custom-columns=NAME:.metadata.name,KEY:.data.key")
    assert out.splitlines() == ["NAME   KEY", "a      a1", "b      b1"]
    out = await kctl.ok("get", "cm", "a", "-o", "jsonpath={.data.key}")
    assert out == "a1"
    await kctl.ok("label", "cm", "a", "tier=front")
    out = await kctl.ok("get", "cm", "-L", "tier")
    assert out.splitlines()[0].split() == ["NAME", "DATA", "AGE", "TIER"]
    assert out.splitlines()[1].split()[-1] == "front"


async def test_set_image_env_resources(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web", 1))
    assert await kctl.ok("set", "image", "deploy/web", "main=busybox:1.36") == "deployment.apps/web image updated\n"
    missing = await kctl("set", "image", "deploy/web", "nope=busybox:1")
    assert missing.code == 1 and 'unable to find container named "nope"' in missing.err
    assert await kctl.ok("set", "env", "deploy/web", "A=1", "B=2") == "deployment.apps/web env updated\n"
    await kctl.ok("set", "env", "deploy/web", "A-")
    assert await kctl.ok("set", "resources", "deploy/web", "--limits=cpu=200m,memory=64Mi") == \
        "deployment.apps/web resource requirements updated\n"
    live = await control_plane.client.get_raw("deployments", "web", "default")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["env"] == [{"name": "B", "value": "2"}]
    assert container["resources"]["limits"] == {"cpu": "200m", "memory": "64Mi"}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "32Mi"}


async def test_run_and_expose(kctl: Kctl, control_plane: ControlPlane) -> None:
    out = await kctl.ok("run", "once", "--image=busybox:1.36", "--restart=Never", "--port", "8080",
                        "--env", "A=1", "-l", "app=once,tier=x", "--", "echo", "hi")
    assert out == "pod/once created\n"
    pod = await control_plane.client.get_raw("pods", "once", "default")
    assert pod["spec"]["restartPolicy"] == "Never"
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["echo", "hi"] and container["image"] == "busybox:1.36"
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert pod["metadata"]["labels"] == {"app": "once", "tier": "x"}
    assert await kctl.ok("expose", "pod", "once", "--port", "80", "--target-port", "8080", "--type", "NodePort") == \
        "service/once exposed\n"
    svc = await control_plane.client.get_raw("services", "once", "default")
    assert svc["spec"]["selector"] == {"app": "once", "tier": "x"} and svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    await kctl.ok("create", "deployment", "api", "--image=busybox:1.36", "--replicas=3", "--port=9000",
                  "--", "sh", "-c", "sleep 100")
    deploy = await control_plane.client.get_raw("deployments", "api", "default")
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["command"] == ["sh", "-c", "sleep 100"]
    assert await kctl.ok("expose", "deploy/api") == "service/api exposed\n"
    svc = await control_plane.client.get_raw("services", "api", "default")
    assert svc["spec"]["selector"] == {"app": "api"} and svc["spec"]["ports"][0]["port"] == 9000
    dry = await kctl.ok("run", "dry", "--image=busybox", "--dry-run=client", "-o", "yaml", "--command", "--", "sleep", "1")
    assert "command:\n    - sleep" in dry


async def test_create_configmap_and_secrets_from_sources(kctl: Kctl, control_plane: ControlPlane,
                                                         tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.txt").write_text("alpha")
    (conf / "b.bin").write_bytes(b"\xff\x00")
    env = tmp_path / "app.env"
    env.write_text("# comment\nMODE=prod\n\nLEVEL=3\n")
    await kctl.ok("create", "configmap", "cfg", f"--from-file={conf}", f"--from-env-file={env}",
                  "--from-literal=x=y")
    cm = await control_plane.client.get_raw("configmaps", "cfg", "default")
    assert cm["data"] == {"a.txt": "alpha", "MODE": "prod", "LEVEL": "3", "x": "y"}
    assert base64.b64decode(cm["binaryData"]["b.bin"]) == b"\xff\x00"
    (tmp_path / "tls.crt").write_text("CERT")
    (tmp_path / "tls.key").write_text("KEY")
    assert await kctl.ok("create", "secret", "tls", "web-tls", f"--cert={tmp_path / 'tls.crt'}",
                         f"--key={tmp_path / 'tls.key'}") == "secret/web-tls created\n"
    tls = await control_plane.client.get_raw("secrets", "web-tls", "default")
    assert tls["type"] == "kubernetes.io/tls" and base64.b64decode(tls["data"]["tls.key"]) == b"KEY"
    await kctl.ok("create", "secret", "docker-registry", "reg", "--docker-server=reg.example:5000",
                  "--docker-username=u", "--docker-password=p")
    reg = await control_plane.client.get_raw("secrets", "reg", "default")
    config = json.loads(base64.b64decode(reg["data"][".dockerconfigjson"]))
    assert reg["type"] == "kubernetes.io/dockerconfigjson"
    assert config["auths"]["reg.example:5000"]["auth"] == base64.b64encode(b"u:p").decode()


async def test_kubectl_spellings_of_output_and_diff_k(kctl: Kctl, tmp_path: Path) -> None:
    await kctl.ok("create", "configmap", "one", "--from-literal=k=v")
    assert await kctl.ok("get", "cm", "one", "-o=jsonpath={.data.k}") == "v"
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {k: w}\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    result = await kctl("diff", "-k", str(tmp_path))
    assert result.code == 1 and "-  k: v\n" in result.out and "+  k: w\n" in result.out


async def test_label_list_and_server_version(kctl: Kctl) -> None:
    for name in ("a", "b"):
        await kctl.ok("create", "configmap", name, "--from-literal", "k=v")
        await kctl.ok("label", "cm", name, "tier=web", f"name={name}")
    assert await kctl.ok("label", "cm", "a", "--list") == "name=a\ntier=web\n"
    assert await kctl.ok("label", "cm", "-l", "tier=web", "--list") == \
        "Listing labels for ConfigMap.v1/a:\n name=a\n tier=web\nListing labels for ConfigMap.v1/b:\n name=b\n tier=web\n"
    await kctl.ok("annotate", "cm", "a", "note=hi")
    assert await kctl.ok("annotate", "cm/a", "--list") == "note=hi\n"
    version = await kctl.ok("version")
    assert "Server Version: v1.32.0-kubelite" in version, version
    assert '"gitVersion": "v1.32.0-kubelite"' in await kctl.ok("version", "-o", "json")
