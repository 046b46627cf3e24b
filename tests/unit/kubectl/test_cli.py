"""The CLI surface without a cluster: kinds and names parsing, usage errors, unreachable server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubectl.errors import CliError
from kubectl.main import main
from kubectl.resources import display_name, parse_targets, quoted_name, resolve_kind

ROOT = Path(__file__).resolve().parents[3]


def test_aliases_resolve_to_kinds() -> None:
    for alias, kind in [("po", "Pod"), ("deploy", "Deployment"), ("rs", "ReplicaSet"), ("svc", "Service"),
                        ("ep", "Endpoints"), ("no", "Node"), ("ns", "Namespace"), ("cm", "ConfigMap"),
                        ("ev", "Event"), ("deployments", "Deployment"), ("deployment.apps", "Deployment"),
                        ("pod", "Pod")]:
        assert resolve_kind(alias).kind == kind
    with pytest.raises(CliError, match='resource type "frob"'):
        resolve_kind("frob")


def test_target_forms() -> None:
    [t] = parse_targets(["deploy", "a", "b"])
    assert t.info.kind == "Deployment" and t.names == ["a", "b"]
    targets = parse_targets(["deploy,po"])
    assert [t.info.kind for t in targets] == ["Deployment", "Pod"] and not targets[0].names
    targets = parse_targets(["deploy/a", "po/b", "deploy/c"])
    assert [(t.info.kind, t.names) for t in targets] == [("Deployment", ["a", "c"]), ("Pod", ["b"])]
    assert [t.info.kind for t in parse_targets(["all"])] == ["Pod", "Service", "Deployment", "ReplicaSet"]
    with pytest.raises(CliError):
        parse_targets(["deploy", "po/b"])


def test_display_names() -> None:
    assert display_name(resolve_kind("deploy"), "web") == "deployment.apps/web"
    assert display_name(resolve_kind("svc"), "web") == "service/web"
    assert quoted_name(resolve_kind("rs"), "web-1") == 'replicaset.apps "web-1"'


def test_usage_error_exits_1_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "pods", "--bogus-flag"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unrecognized arguments") and "Traceback" not in err


def test_invalid_manifest_is_rejected_before_contacting_the_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    assert main(["--server", "127.0.0.1:1", "apply", "-f", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: document 1 (ConfigMap/<no name>): metadata.name: Required value" in err
    assert "cannot reach" not in err


def test_unreachable_server_is_one_clear_line() -> None:
    result = subprocess.run([sys.executable, "-m", "kubectl.main", "--server", "127.0.0.1:1", "get", "pods"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot reach the kubelite apiserver at 127.0.0.1:1")
    assert "kubelite up" in lines[0]


def test_server_from_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBELITE_SERVER", "127.0.0.1:1")
    assert main(["get", "ns"]) == 1
    assert "at 127.0.0.1:1" in capsys.readouterr().err


def test_version_client_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "--client"]) == 0
    assert capsys.readouterr().out.startswith("Client Version: v")


def test_api_resources_lists_short_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-resources"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert any(line.split()[:2] == ["deployments", "deploy"] for line in out.splitlines())


def test_api_error_wording() -> None:
    from kubectl.errors import format_api_error, is_unreachable, unreachable_message
    from kubelite.api.errors import Invalid, NotFound, ServiceUnavailable, StatusCause, Timeout

    assert format_api_error(NotFound('deployments.apps "x" not found')) == \
        'Error from server (NotFound): deployments.apps "x" not found'
    invalid = Invalid("Deployment.apps \"x\" is invalid", [StatusCause("spec.replicas", "must be >= 0")])
    assert format_api_error(invalid).endswith("\n* spec.replicas: must be >= 0")
    down = ServiceUnavailable("apiserver unreachable at h:1: connection refused")
    assert is_unreachable(down, "h:1")
    assert unreachable_message("h:1", down) == \
        "error: cannot reach the kubelite apiserver at h:1: connection refused (is the cluster up? try `kubelite up`)"
    assert not is_unreachable(ServiceUnavailable("storage is unavailable"), "h:1")
    slow = Timeout("Get to apiserver at h:1 timed out")
    assert is_unreachable(slow, "h:1") and "did not answer in time" in unreachable_message("h:1", slow)
