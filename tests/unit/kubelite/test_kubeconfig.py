"""The kubeconfig `kubelite up` merges into a user's file: added beside other clusters, never over them."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from kubelite import kubeconfig
from kubelite.kubeconfig import Entry, KubeconfigError, context_name, default_path, merge, remove


def entry(name: str = "kubelite", server: str = "https://127.0.0.1:6445") -> Entry:
    return Entry(name, server, b"CA", b"CERT", b"KEY")


def other_cluster() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod:6443"}}],
        "users": [{"name": "prod-user", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-user", "namespace": "x"}}],
    }


def names(config: dict[str, Any], key: str) -> list[str]:
    return [item["name"] for item in config[key]]


def test_context_name_carries_the_offset_only_when_not_default() -> None:
    assert context_name(0) == "kubelite"
    assert context_name(700) == "kubelite-700"


def test_a_fresh_file_gets_one_current_context_with_embedded_credentials() -> None:
    config = merge(None, entry())
    assert config["current-context"] == "kubelite"
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6445"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    user = config["users"][0]
    assert user["name"] == "kubelite-admin"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"KEY"
    assert config["contexts"] == [{"name": "kubelite", "context": {"cluster": "kubelite", "user": "kubelite-admin"}}]


def test_merge_keeps_other_clusters_and_their_current_context() -> None:
    before = other_cluster()
    config = merge(before, entry())
    assert config["current-context"] == "prod"  # the user's choice stays
    assert names(config, "clusters") == ["prod", "kubelite"]
    assert names(config, "users") == ["prod-user", "kubelite-admin"]
    assert config["contexts"][0] == before["contexts"][0]
    assert before["clusters"] == other_cluster()["clusters"]  # the input is not modified


def test_merge_sets_the_current_context_when_none_is_set_or_it_was_this_cluster() -> None:
    unset = {**other_cluster(), "current-context": ""}
    assert merge(unset, entry())["current-context"] == "kubelite"
    mine = merge({**other_cluster(), "current-context": "kubelite"}, entry())
    assert mine["current-context"] == "kubelite"


def test_merging_again_replaces_this_clusters_entries_instead_of_duplicating_them() -> None:
    first = merge(other_cluster(), entry(server="https://10.88.5.1:6445"))
    again = merge(first, entry(server="https://10.88.6.1:6445"))
    assert names(again, "clusters") == ["prod", "kubelite"]
    assert names(again, "contexts") == ["prod", "kubelite"]
    assert again["clusters"][1]["cluster"]["server"] == "https://10.88.6.1:6445"


def test_two_clusters_at_different_offsets_live_side_by_side() -> None:
    config = merge(merge(None, entry()), entry(context_name(700), "https://127.0.0.1:7145"))
    assert names(config, "contexts") == ["kubelite", "kubelite-700"]
    assert config["current-context"] == "kubelite"


def test_remove_takes_out_only_this_clusters_entries() -> None:
    merged = merge(other_cluster(), entry())
    assert remove(merged, "kubelite") == {**other_cluster(), "preferences": {}}
    current = remove(merge(None, entry()), "kubelite")
    assert current["current-context"] == "" and current["clusters"] == []


def test_owns_checks_the_server_so_a_replaced_entry_is_left_alone() -> None:
    config = merge(None, entry(server="https://a:6445"))
    assert kubeconfig.owns(config, "kubelite", "https://a:6445")
    assert not kubeconfig.owns(config, "kubelite", "https://b:6445")
    assert not kubeconfig.owns(config, "other", "https://a:6445")


def test_default_path_is_the_first_kubeconfig_entry_else_home(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert default_path({"KUBECONFIG": f"{first}:{second}"}) == first
    assert default_path({"KUBECONFIG": f":{second}"}) == second
    assert default_path({}) == Path.home() / ".kube" / "config"


def test_files_are_merged_with_mode_0600_and_cleaned_up(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    kubeconfig.save(path, other_cluster())
    path.chmod(0o644)
    kubeconfig.write_merged(path, entry())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = kubeconfig.load(path)
    assert loaded is not None and names(loaded, "contexts") == ["prod", "kubelite"]
    assert not kubeconfig.remove_from(path, "kubelite", "https://elsewhere:6445")
    assert kubeconfig.remove_from(path, "kubelite", "https://127.0.0.1:6445")
    loaded = kubeconfig.load(path)
    assert loaded is not None and names(loaded, "contexts") == ["prod"]
    assert [p.name for p in path.parent.iterdir()] == ["config"]  # no temporary file left


def test_a_file_left_with_nothing_in_it_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "config"
    kubeconfig.write_merged(path, entry())
    assert kubeconfig.remove_from(path, "kubelite", "https://127.0.0.1:6445")
    assert not path.exists()


def test_a_broken_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(KubeconfigError, match="not valid YAML"):
        kubeconfig.write_merged(path, entry())
    assert path.read_text() == "clusters: [unclosed\n"
    path.write_text("clusters: {}\n")
    with pytest.raises(KubeconfigError, match="clusters must be a list"):
        kubeconfig.write_merged(path, entry())
