"""kctl's kustomize subset against kustomize's documented examples (names with content hashes,
prefixes, labels reaching selectors, images, patches, and references following renames)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl.errors import CliError
from kubectl.kustomize import build

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  replicas: 2
  selector:
    matchLabels: {run: my-nginx}
  template:
    metadata:
      labels: {run: my-nginx}
    spec:
      containers:
      - name: my-nginx
        image: nginx
        envFrom:
        - configMapRef: {name: example-configmap-2}
      volumes:
      - name: config
        configMap: {name: example-configmap-1}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
spec:
  ports: [{port: 80}]
  selector: {run: my-nginx}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def by_kind(objs: list[dict], kind: str) -> dict:
    return next(o for o in objs if o["kind"] == kind)


def test_generators_use_kustomizes_documented_hash_names(tmp_path: Path) -> None:
    # The names kubernetes.io's kustomize task page shows for these exact inputs.
    write(tmp_path, {
        "application.properties": "FOO=Bar\n",
        "password.txt": "username=admin\npassword=secret\n",
        "kustomization.yaml": """\
configMapGenerator:
- name: example-configmap-1
  files: [application.properties]
- name: example-configmap-2
  literals: [FOO=Bar]
secretGenerator:
- name: example-secret-1
  files: [password.txt]
""",
    })
    names = [o["metadata"]["name"] for o in build(tmp_path)]
    assert names == ["example-configmap-1-8mbdf7882g", "example-configmap-2-g2hdhfc6tk", "example-secret-1-t2kt65hgtb"]


def test_generated_names_are_followed_by_references(tmp_path: Path) -> None:
    write(tmp_path, {"deployment.yaml": DEPLOYMENT, "application.properties": "FOO=Bar\n", "kustomization.yaml": """\
resources: [deployment.yaml]
configMapGenerator:
- name: example-configmap-1
  files: [application.properties]
- name: example-configmap-2
  literals: [FOO=Bar]
"""})
    deploy = by_kind(build(tmp_path), "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    assert spec["volumes"][0]["configMap"]["name"] == "example-configmap-1-8mbdf7882g"
    assert spec["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "example-configmap-2-g2hdhfc6tk"


def test_prefix_suffix_namespace_labels_annotations_images(tmp_path: Path) -> None:
    write(tmp_path, {"deployment.yaml": DEPLOYMENT, "service.yaml": SERVICE, "kustomization.yaml": """\
resources: [deployment.yaml, service.yaml]
namespace: my-namespace
namePrefix: dev-
nameSuffix: "-001"
commonLabels: {app: bingo}
commonAnnotations: {oncallPager: 800-555-1212}
images:
- name: nginx
  newName: my.image.registry/nginx
  newTag: "1.4.0"
"""})
    objs = build(tmp_path)
    deploy, service = by_kind(objs, "Deployment"), by_kind(objs, "Service")
    assert deploy["metadata"]["name"] == "dev-my-nginx-001" and service["metadata"]["name"] == "dev-my-nginx-001"
    assert deploy["metadata"]["namespace"] == "my-namespace"
    assert deploy["metadata"]["labels"] == {"app": "bingo"}
    assert deploy["metadata"]["annotations"] == {"oncallPager": "800-555-1212"}
    assert deploy["spec"]["selector"]["matchLabels"] == {"run": "my-nginx", "app": "bingo"}
    assert deploy["spec"]["template"]["metadata"]["labels"] == {"run": "my-nginx", "app": "bingo"}
    assert service["spec"]["selector"] == {"run": "my-nginx", "app": "bingo"}
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "my.image.registry/nginx:1.4.0"


def test_strategic_merge_and_json6902_patches(tmp_path: Path) -> None:
    write(tmp_path, {"deployment.yaml": DEPLOYMENT, "increase_replicas.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  replicas: 3
""", "set_memory.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  template:
    spec:
      containers:
      - name: my-nginx
        resources:
          limits: {memory: 512Mi}
""", "kustomization.yaml": """\
resources: [deployment.yaml]
patchesStrategicMerge: [increase_replicas.yaml, set_memory.yaml]
patches:
- target: {kind: Deployment, name: my-nginx}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/ports
      value: [{containerPort: 80}]
"""})
    deploy = by_kind(build(tmp_path), "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert deploy["spec"]["replicas"] == 3
    assert container["resources"]["limits"] == {"memory": "512Mi"} and container["image"] == "nginx"
    assert container["ports"] == [{"containerPort": 80}]


def test_bases_and_overlays(tmp_path: Path) -> None:
    write(tmp_path, {"base/deployment.yaml": DEPLOYMENT, "base/kustomization.yaml": "resources: [deployment.yaml]\n",
                     "prod/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\n"})
    assert [o["metadata"]["name"] for o in build(tmp_path / "prod")] == ["prod-my-nginx"]


def test_unsupported_fields_and_missing_files_are_named(tmp_path: Path) -> None:
    write(tmp_path, {"kustomization.yaml": "helmCharts: []\n"})
    with pytest.raises(CliError, match="helmCharts"):
        build(tmp_path)
    write(tmp_path, {"kustomization.yaml": "resources: [nope.yaml]\n"})
    with pytest.raises(CliError, match="nope.yaml"):
        build(tmp_path)
    with pytest.raises(CliError, match="unable to find"):
        build(tmp_path / "empty-dir-that-does-not-exist")
