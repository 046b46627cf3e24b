"""Flag parsing of the controller-manager."""

from __future__ import annotations

import pytest

from controllers.main import parse_args
from controllers.manager import ALL_CONTROLLERS, parse_controllers


def test_parse_controllers_accepts_aliases_and_all() -> None:
    assert parse_controllers("rs,deploy,gc") == ["replicaset", "deployment", "garbagecollector"]
    assert parse_controllers("gc, rs ,rs") == ["garbagecollector", "replicaset"]
    assert parse_controllers("*") == list(ALL_CONTROLLERS)
    with pytest.raises(ValueError, match="unknown controller 'nope'"):
        parse_controllers("rs,nope")


def test_parse_args_defaults_and_flags() -> None:
    args = parse_args(["--server", "10.0.0.1:6443", "--listen-health", "127.0.0.1:0", "--workers", "4",
                       "--controllers", "deploy"])
    assert args.server == "10.0.0.1:6443" and args.listen_health == ("127.0.0.1", 0)
    assert args.workers == 4 and args.controllers == ["deployment"]
    defaults = parse_args([])
    assert defaults.controllers == list(ALL_CONTROLLERS) and defaults.workers == 2
    with pytest.raises(SystemExit):
        parse_args(["--workers", "0"])
