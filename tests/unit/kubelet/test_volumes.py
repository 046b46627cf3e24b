"""Volumes as a container sees them: projected ConfigMap/Secret files (items, modes,
optional), atomic `..data` updates, emptyDir, hostPath checks, mounts."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kubelet.envvars import ConfigError, RefData
from kubelet.volumes import (
    container_mounts,
    pod_volumes_dir,
    project,
    refresh_projections,
    setup_volumes,
    teardown_volumes,
)
from kubelite.api import Pod


def make_pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
        "spec": {"volumes": volumes,
                 "containers": [{"name": "c", "image": "i", "volumeMounts": mounts or []}]},
    })


def read_visible(path: Path) -> dict[str, str]:
    """What `ls` + `cat` in the mounted directory would show (hidden entries skipped)."""
    out = {}
    for root, dirs, names in os.walk(path, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith("..")]
        if Path(root).name.startswith(".."):
            continue
        for name in names:
            full = Path(root) / name
            out[str(full.relative_to(path))] = full.read_text()
    return out


def test_project_is_atomic_and_removes_stale_keys(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert project(target, {"a": (b"1", 0o644), "b": (b"2", 0o600)})
    assert read_visible(target) == {"a": "1", "b": "2"}
    assert (target / "a").is_symlink() and os.readlink(target / "a") == "..data/a"
    first = os.readlink(target / "..data")
    assert not project(target, {"a": (b"1", 0o644), "b": (b"2", 0o600)}), "unchanged content is not rewritten"
    assert project(target, {"a": (b"one", 0o644), "sub/c": (b"3", 0o644)})
    assert read_visible(target) == {"a": "one", "sub/c": "3"}
    assert os.readlink(target / "..data") != first
    assert not (target / first).exists(), "the old version is removed"
    assert not (target / "b").exists()
    assert stat.S_IMODE((target / "..data" / "a").stat().st_mode) == 0o644


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "..data", "a/../../b"])
def test_project_refuses_escaping_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        project(tmp_path / "v", {bad: (b"x", 0o644)})


def test_config_map_and_secret_volumes(tmp_path: Path) -> None:
    refs = RefData(config_maps={"cm": {"app.conf": b"x=1", "other": b"o"}}, secrets={"sec": {"token": b"t0k"}})
    pod = make_pod([
        {"name": "conf", "configMap": {"name": "cm", "items": [{"key": "app.conf", "path": "etc/app.conf",
                                                               "mode": 0o600}]}},
        {"name": "all", "configMap": {"name": "cm", "defaultMode": 0o640}},
        {"name": "creds", "secret": {"secretName": "sec"}},
        {"name": "opt", "secret": {"secretName": "missing", "optional": True}},
        {"name": "scratch", "emptyDir": {}},
    ], mounts=[{"name": "conf", "mountPath": "/etc/conf", "readOnly": True},
               {"name": "scratch", "mountPath": "/tmp/s"}, {"name": "all", "mountPath": "/x", "subPath": "other"}])
    paths = setup_volumes(tmp_path, pod, refs)
    assert read_visible(paths["conf"]) == {"etc/app.conf": "x=1"}
    assert stat.S_IMODE((paths["conf"] / "..data/etc/app.conf").stat().st_mode) == 0o600
    assert read_visible(paths["all"]) == {"app.conf": "x=1", "other": "o"}
    assert stat.S_IMODE((paths["all"] / "..data/other").stat().st_mode) == 0o640
    assert read_visible(paths["creds"]) == {"token": "t0k"}
    assert read_visible(paths["opt"]) == {}
    assert paths["scratch"].is_dir() and stat.S_IMODE(paths["scratch"].stat().st_mode) == 0o777
    mounts = container_mounts(pod, pod.spec.containers[0], paths)
    assert [(m.container_path, m.readonly) for m in mounts] == [("/etc/conf", True), ("/tmp/s", False), ("/x", False)]
    assert mounts[2].host_path == str(paths["all"] / "other")

    changed = refresh_projections(tmp_path, pod, RefData(config_maps={"cm": {"app.conf": b"x=2", "other": b"o"}},
                                                         secrets={"sec": {"token": b"t0k"}}))
    assert sorted(changed) == ["all", "conf"]
    assert read_visible(paths["conf"]) == {"etc/app.conf": "x=2"}
    teardown_volumes(tmp_path, pod)
    assert not pod_volumes_dir(tmp_path, pod).exists()


@pytest.mark.parametrize(("volume", "message"), [
    ({"name": "v", "configMap": {"name": "nope"}}, 'configmap "nope" not found'),
    ({"name": "v", "secret": {"secretName": "nope"}}, 'secret "nope" not found'),
    ({"name": "v", "configMap": {"name": "cm", "items": [{"key": "zz", "path": "z"}]}},
     "couldn't find key zz in ConfigMap prod/cm"),
    ({"name": "v", "persistentVolumeClaim": {"claimName": "c"}}, "claim .c. is not resolved"),
    ({"name": "v", "nfs": {"server": "x", "path": "/"}}, "not supported"),
    ({"name": "v", "hostPath": {"path": "/definitely/not/here", "type": "Directory"}}, "does not exist"),
    ({"name": "v", "hostPath": {"path": "/proc/self/status", "type": "Directory"}}, "is not a directory"),
])
def test_bad_volumes_are_config_errors(tmp_path: Path, volume: dict[str, Any], message: str) -> None:
    refs = RefData(config_maps={"cm": {"k": b"v"}})
    with pytest.raises(ConfigError, match=message):
        setup_volumes(tmp_path, make_pod([volume]), refs)


def test_host_path_or_create(tmp_path: Path) -> None:
    d, f = tmp_path / "made/dir", tmp_path / "made/file"
    pod = make_pod([{"name": "d", "hostPath": {"path": str(d), "type": "DirectoryOrCreate"}},
                    {"name": "f", "hostPath": {"path": str(f), "type": "FileOrCreate"}}])
    paths = setup_volumes(tmp_path / "data", pod, RefData())
    assert paths == {"d": d, "f": f} and d.is_dir() and f.is_file()
    teardown_volumes(tmp_path / "data", pod)
    assert d.is_dir(), "hostPaths are never removed"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group needs root")
def test_fs_group_owns_volumes_and_dirs_are_setgid(tmp_path: Path) -> None:
    refs = RefData(secrets={"sec": {"token": b"t0k"}})
    pod = Pod.from_dict({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
        "spec": {"securityContext": {"fsGroup": 4321},
                 "volumes": [{"name": "scratch", "emptyDir": {}},
                             {"name": "creds", "secret": {"secretName": "sec", "defaultMode": 0o400}}],
                 "containers": [{"name": "c", "image": "i"}]},
    })
    paths = setup_volumes(tmp_path, pod, refs)
    scratch = paths["scratch"].stat()
    assert scratch.st_gid == 4321 and scratch.st_mode & stat.S_ISGID and scratch.st_mode & 0o070 == 0o070
    token = (paths["creds"] / "..data" / "token").stat()
    assert token.st_gid == 4321 and stat.S_IMODE(token.st_mode) == 0o440  # group-readable for fsGroup
    refs.secrets["sec"]["token"] = b"new"
    assert refresh_projections(tmp_path, pod, refs) == ["creds"]
    assert (paths["creds"] / "..data" / "token").stat().st_gid == 4321  # a new projection is owned too
