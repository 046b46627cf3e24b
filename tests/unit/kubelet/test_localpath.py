"""kubelet.localpath: which directories a kubelet may make and remove, and when a volume is still in use."""

from __future__ import annotations

from pathlib import Path

from kubelet.localpath import owned_dir, pods_use
from kubelite.api import Pod
from kubelite.api.storage import LOCAL_PATH_NODE_ANNOTATION, PersistentVolume


def volume(name: str, path: str, node: str = "n1") -> PersistentVolume:
    return PersistentVolume.from_dict({
        "metadata": {"name": name, "annotations": {LOCAL_PATH_NODE_ANNOTATION: node}},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": path},
                 "claimRef": {"namespace": "default", "name": "data-web-0", "uid": "u"}}})


def test_only_our_own_local_path_directories_are_ours(tmp_path: Path) -> None:
    root = tmp_path / "volumes" / "local-path"
    assert owned_dir(tmp_path, volume("pvc-1", str(root / "pvc-1")), "n1") == root / "pvc-1"
    assert owned_dir(tmp_path, volume("pvc-1", str(root / "pvc-1")), "n2") is None, "another node's volume"
    assert owned_dir(tmp_path, volume("pvc-1", "/etc"), "n1") is None, "a path outside the root is never touched"
    assert owned_dir(tmp_path, volume("pvc-1", str(root / "pvc-2")), "n1") is None, "the name must match"
    assert owned_dir(tmp_path, volume("pvc-1", str(root / ".." / "pvc-1")), "n1") is None


def pod(claim: str, phase: str = "Running", ns: str = "default") -> Pod:
    return Pod.from_dict({"metadata": {"name": "p", "namespace": ns},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                   "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]},
                          "status": {"phase": phase}})


def test_a_volume_is_in_use_while_a_live_pod_mounts_its_claim() -> None:
    pv = volume("pvc-1", "/x")
    assert pods_use([pod("data-web-0")], pv)
    assert not pods_use([pod("data-web-0", phase="Succeeded")], pv)
    assert not pods_use([pod("other"), pod("data-web-0", ns="prod")], pv)
