"""The pod cgroup layout: containers nest under `<parent>/pod-<sandbox>`, which holds pids.max."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.runc import podcgroup
from kubelet.runtime import SandboxError


def test_containers_nest_under_the_pod_cgroup() -> None:
    assert podcgroup.pod_path("/kubelite/node-1/", "s1") == "kubelite/node-1/pod-s1"
    assert podcgroup.container_path("kubelite/node-1", "s1", "c1") == "/kubelite/node-1/pod-s1/c1"


def test_ensure_sets_pids_max_and_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    podcgroup.ensure("kl/n", "s1", 64, tmp_path)
    podcgroup.ensure("kl/n", "s1", 128, tmp_path)  # a restarted kubelet with another limit
    assert (tmp_path / "pids/kl/n/pod-s1/pids.max").read_text() == "128"
    podcgroup.ensure("kl/n", "s2", 0, tmp_path)
    assert (tmp_path / "pids/kl/n/pod-s2/pids.max").read_text() == "max"


def test_a_limit_without_a_pids_controller_is_an_error_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="pids controller not mounted"):
        podcgroup.ensure("kl/n", "s1", 64, tmp_path)
    podcgroup.ensure("kl/n", "s1", 0, tmp_path)  # unlimited needs no controller


def test_remove_rmdirs_the_pod_level_in_every_controller(tmp_path: Path) -> None:
    for ctrl in ("pids", "cpu"):
        (tmp_path / ctrl / "kl/n/pod-s1").mkdir(parents=True)
    assert podcgroup.remove("kl/n", "s1", tmp_path) == []
    assert not (tmp_path / "pids/kl/n/pod-s1").exists() and not (tmp_path / "cpu/kl/n/pod-s1").exists()
    assert podcgroup.remove("kl/n", "s1", tmp_path) == []  # already gone: fine
