"""Manifest loading: every problem names its file, document and field; nothing half-loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kubectl.manifests import ManifestError, load_manifests, namespaces_first

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: busybox:1.35
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def problems(paths: list[str], **kwargs: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests(paths, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_multi_document_file_loads_in_order_with_namespace_filled(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yaml", DEPLOY.format(name="web", replicas=2) + "---\n" + CONFIGMAP.format(name="cfg"))
    found = load_manifests([path], namespace="team")
    assert [(m.info.kind, m.name, m.namespace, m.index) for m in found] == [
        ("Deployment", "web", "team", 1), ("ConfigMap", "cfg", "team", 2)]


def test_empty_documents_and_comments_are_skipped(tmp_path: Path) -> None:
    text = "# leading comment\n---\n---\n" + CONFIGMAP.format(name="a") + "---\n# only a comment\n"
    found = load_manifests([write(tmp_path, "x.yaml", text)])
    assert [m.name for m in found] == ["a"]


def test_malformed_yaml_names_file_document_and_line(tmp_path: Path) -> None:
    text = CONFIGMAP.format(name="ok") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n"
    [problem] = problems([write(tmp_path, "broken.yaml", text)])
    assert "broken.yaml: document 2" in problem
    assert "invalid YAML at line" in problem and "column" in problem


def test_negative_replicas_reports_spec_replicas(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", DEPLOY.format(name="ok-one", replicas=1) + "---\n"
                 + DEPLOY.format(name="bad-one", replicas=-1))
    [problem] = problems([path])
    assert problem.startswith(f"{path}: document 2 (Deployment/bad-one): spec.replicas:")


def test_unknown_kind_is_reported(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "k.yaml", "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n")])
    assert "document 1 (Frobnicator/x): kind:" in problem and "Frobnicator" in problem


def test_wrong_api_version_points_at_api_version(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "v.yaml", DEPLOY.format(name="w", replicas=1).replace("apps/v1", "v1"))])
    assert "(Deployment/w): apiVersion:" in problem


def test_missing_name_is_reported(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "n.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n")])
    assert "document 1 (ConfigMap/<no name>): metadata.name: Required value" in problem


def test_missing_kind_is_reported(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "k.yaml", "apiVersion: v1\nmetadata: {name: x}\n")])
    assert "kind: Required value" in problem


def test_service_selector_must_be_a_map(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: [app]\n  ports: [{port: 80}]\n"
    [problem] = problems([write(tmp_path, "svc.yaml", text)])
    assert "(Service/s): spec.selector:" in problem


def test_typo_in_field_names_the_field(tmp_path: Path) -> None:
    text = DEPLOY.format(name="w", replicas=1).replace("image:", "imagee:")
    [problem] = problems([write(tmp_path, "typo.yaml", text)])
    assert "spec.template.spec.containers[0].imagee" in problem


def test_all_problems_of_all_files_are_reported(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", DEPLOY.format(name="a", replicas=-1))
    b = write(tmp_path, "b.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    found = problems([a, b])
    assert len(found) == 2 and found[0].startswith(a) and found[1].startswith(b)


def test_non_mapping_document_is_reported(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "l.yaml", "- a\n- b\n")])
    assert "document 1" in problem and "expected an object" in problem


def test_directory_reads_manifest_files_sorted_and_recursive_only_with_flag(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", CONFIGMAP.format(name="b"))
    write(tmp_path, "a.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
    write(tmp_path, "notes.txt", "not a manifest")
    write(tmp_path, "sub/c.yaml", CONFIGMAP.format(name="c"))
    assert [m.name for m in load_manifests([str(tmp_path)])] == ["a", "b"]
    assert [m.name for m in load_manifests([str(tmp_path)], recursive=True)] == ["a", "b", "c"]


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    [problem] = problems([write(tmp_path, "x.json", '{"apiVersion": "v1",\n "kind": }')])
    assert "x.json: document 1: invalid JSON at line 2, column" in problem


def test_list_documents_expand_into_items(tmp_path: Path) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}]}
    assert [m.name for m in load_manifests([write(tmp_path, "l.json", json.dumps(doc))])] == ["x", "y"]


def test_stdin_is_read_for_dash() -> None:
    found = load_manifests(["-"], stdin=io.StringIO(CONFIGMAP.format(name="from-stdin")))
    assert [m.name for m in found] == ["from-stdin"]


def test_server_fields_are_dropped_so_get_output_can_be_reapplied(tmp_path: Path) -> None:
    text = CONFIGMAP.format(name="c").replace("  name: c\n", "  name: c\n  uid: abc\n  resourceVersion: '7'\n")
    [m] = load_manifests([write(tmp_path, "c.yaml", text)])
    assert "uid" not in m.body["metadata"] and "resourceVersion" not in m.body["metadata"]


def test_namespace_mismatch_with_explicit_flag_is_an_error(tmp_path: Path) -> None:
    text = CONFIGMAP.format(name="c").replace("  name: c\n", "  name: c\n  namespace: a\n")
    path = write(tmp_path, "c.yaml", text)
    [problem] = problems([path], namespace="b", explicit_namespace=True)
    assert "does not match the namespace" in problem
    assert load_manifests([path], namespace="b")[0].namespace == "a"


def test_cluster_scoped_kinds_carry_no_namespace_and_come_first(tmp_path: Path) -> None:
    text = CONFIGMAP.format(name="c") + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"
    found = namespaces_first(load_manifests([write(tmp_path, "x.yaml", text)]))
    assert [m.info.kind for m in found] == ["Namespace", "ConfigMap"]
    assert "namespace" not in found[0].body["metadata"]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    from kubectl.errors import CliError

    with pytest.raises(CliError, match="does not exist"):
        load_manifests([str(tmp_path / "nope.yaml")])
