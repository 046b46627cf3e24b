"""Flags may sit anywhere among a command's words, as with kubectl."""

from __future__ import annotations

import pytest

from kubectl.errors import CliError
from kubectl.main import build_parser


def parse(line: str) -> dict[str, object]:
    return vars(build_parser().parse_args(line.split()))


@pytest.mark.parametrize("line", [
    "get svc -n kube-system kube-dns",
    "get -n kube-system svc kube-dns",
    "get svc kube-dns -n kube-system",
    "-n kube-system get svc kube-dns",
])
def test_flags_between_kind_and_name(line: str) -> None:
    args = parse(line)
    assert args["resources"] == ["svc", "kube-dns"]
    assert args["namespace"] == "kube-system"


def test_several_names_after_flags_are_all_kept() -> None:
    args = parse("delete pod -n x --grace-period 0 a b")
    assert args["resources"] == ["pod", "a", "b"] and args["namespace"] == "x"
    args = parse("describe deploy -n x web api")
    assert args["resources"] == ["deploy", "web", "api"]


def test_exec_keeps_everything_after_the_double_dash() -> None:
    args = parse("exec -n x web -- ls -l /")
    assert args["target"] == "web" and args["namespace"] == "x"
    assert args["command"][-3:] == ["ls", "-l", "/"]


def test_unknown_flags_are_still_errors() -> None:
    with pytest.raises(CliError, match="unrecognized arguments: --frobnicate"):
        parse("get pods --frobnicate")
