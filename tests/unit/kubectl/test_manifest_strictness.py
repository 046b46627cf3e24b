"""Input kubectl refuses, kctl refuses too: duplicate keys, and input without any object."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl.errors import CliError
from kubectl.manifests import ManifestError, load_manifests, parse_documents

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("dup.yaml", CM + "  name: b\n",
     'dup.yaml: document 1: invalid YAML at line 5, column 3: key "name" already set in map (first set at line 4)'),
    ("flow.yaml", "---\n" + CM + "---\na: {b: 1, b: 2}\n",
     'flow.yaml: document 2: invalid YAML at line 7, column 11: key "b" already set in map (first set at line 7)'),
    ("dup.json", '{"apiVersion": "v1", "kind": "ConfigMap", "kind": "Secret"}',
     'dup.json: document 1: invalid JSON: duplicate key "kind" in a JSON object'),
])
def test_duplicate_keys_are_errors_naming_file_document_and_line(name: str, text: str, message: str) -> None:
    docs, errors = parse_documents(name, text)
    assert errors == [message]


def test_merge_keys_may_be_overridden() -> None:
    docs, errors = parse_documents("m.yaml", "x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  a: 3\n")
    assert errors == [] and docs[0].data["y"] == {"a": 3, "b": 2}


@pytest.mark.parametrize(("files", "message"), [
    ({"empty.yaml": ""}, "no objects passed to apply (empty.yaml: no documents)"),
    ({"null.yaml": "null\n"}, "no objects passed to apply (null.yaml: document 1 is null)"),
    ({"a.yaml": "# only a comment\n", "b.json": "null"},
     "no objects passed to apply (a.yaml: no documents; b.json: document 1 is null)"),
])
def test_input_without_objects_is_an_error_like_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        files: dict[str, str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        Path(name).write_text(text)
    paths = list(files)
    with pytest.raises(CliError) as err:
        load_manifests(paths, verb="apply")
    assert str(err.value) == message
    assert not isinstance(err.value, ManifestError)
    assert load_manifests(paths) == [], "without a verb (kctl diff) nothing to do is not an error"


def test_a_null_document_beside_an_object_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("null\n---\n" + CM)
    [manifest] = load_manifests([str(tmp_path / "m.yaml")], verb="apply")
    assert (manifest.index, manifest.name) == (2, "a")
