"""`kubelite up` adds its kctl context beside others', `down` removes only its own, and
`kubelite image load` finds the cluster of the current (or a named) context."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl.config import load_config
from kubelite import image, kctlcontext
from kubelite.client.tls import ClientTLS


def _entry(tmp: Path, name: str, server: str) -> dict[str, object]:
    return kctlcontext.entry(server, ClientTLS(f"{tmp}/{name}/ca.crt", f"{tmp}/{name}/a.crt", f"{tmp}/{name}/a.key"),
                             tmp / name)


def test_second_cluster_is_added_not_switched_to_and_removed_alone(tmp_path: Path) -> None:
    path = tmp_path / "config"
    assert kctlcontext.write_merged(path, "kubelite-710", _entry(tmp_path, "a", "10.88.71.1:7153")) is True
    assert kctlcontext.write_merged(path, "kubelite-720", _entry(tmp_path, "b", "10.88.72.1:7163")) is False
    assert load_config(path).server == "10.88.71.1:7153"  # the first stays current
    assert load_config(path, "kubelite-720").server == "10.88.72.1:7163"  # kctl --context
    assert kctlcontext.remove_from(path, "kubelite-720", "10.88.9.9:1") is False  # not ours any more
    assert kctlcontext.remove_from(path, "kubelite-720", "10.88.72.1:7163") is True
    assert load_config(path).server == "10.88.71.1:7153"
    assert kctlcontext.remove_from(path, "kubelite-710", "10.88.71.1:7153") is True
    assert not path.exists()


def test_an_old_single_cluster_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("server: 127.0.0.1:6443\n")
    assert kctlcontext.write_merged(path, "kubelite", _entry(tmp_path, "a", "10.88.0.1:6443")) is True
    assert load_config(path).server == "10.88.0.1:6443"


def test_image_load_targets_the_current_or_named_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    monkeypatch.setenv("KUBELITE_CONFIG", str(path))
    kctlcontext.write_merged(path, "kubelite-710", _entry(tmp_path, "a", "10.88.71.1:7153"))
    kctlcontext.write_merged(path, "kubelite-720", _entry(tmp_path, "b", "10.88.72.1:7163"))
    assert image.target_data_dir(None, None) == tmp_path / "a"
    assert image.target_data_dir(None, "kubelite-720") == tmp_path / "b"
    assert image.target_data_dir(tmp_path / "c", "kubelite-720") == (tmp_path / "c").resolve()
    with pytest.raises(image.LoadError, match="no cluster named 'nope'"):
        image.target_data_dir(None, "nope")
