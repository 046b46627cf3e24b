"""Server address resolution order: --server, $KUBELITE_SERVER, config file, default."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl.config import (
    ClientConfig,
    ConfigError,
    config_path,
    load_config,
    resolve_namespace,
    resolve_server,
)


def test_flag_wins_over_everything() -> None:
    env = {"KUBELITE_SERVER": "10.0.0.1:1"}
    assert resolve_server("10.0.0.9:9", env, ClientConfig(server="10.0.0.2:2")) == "10.0.0.9:9"


def test_environment_wins_over_config_file() -> None:
    assert resolve_server(None, {"KUBELITE_SERVER": "10.0.0.1:1"}, ClientConfig(server="10.0.0.2:2")) == "10.0.0.1:1"


def test_config_file_then_default(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("server: 127.0.0.1:7443\nnamespace: team\n")
    env = {"KUBELITE_CONFIG": str(cfg)}
    assert config_path(env) == cfg
    assert resolve_server(None, env) == "127.0.0.1:7443"
    assert resolve_server(None, {"KUBELITE_CONFIG": str(tmp_path / "missing")}) == "127.0.0.1:6443"
    assert resolve_namespace(None, load_config(cfg)) == "team"
    assert resolve_namespace("other", load_config(cfg)) == "other"
    assert resolve_namespace(None, None) == "default"


def test_default_config_path_is_in_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path({}) == tmp_path / ".kubelite" / "config"


def test_scheme_prefixes_are_accepted() -> None:
    assert resolve_server("grpc://127.0.0.1:6443/", {}, ClientConfig()) == "127.0.0.1:6443"


def test_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(cfg)
    cfg.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(cfg)
