"""The PersistentVolume binder's decisions (controllers.persistentvolume.binder): pure, no API."""

from __future__ import annotations

from typing import Any

from controllers.persistentvolume.binder import Bind, Complete, Provision, Wait, plan_claim, plan_volume
from kubelite.api import Node
from kubelite.api.storage import (
    LOCAL_PATH_FINALIZER,
    LOCAL_PATH_NODE_ANNOTATION,
    NODE_DATA_DIR_ANNOTATION,
    SELECTED_NODE_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
)


def pv(name: str, size: str, cls: str = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",),
       labels: dict[str, str] | None = None, node: str | None = None, **spec: Any) -> PersistentVolume:
    body: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
                            "hostPath": {"path": f"/srv/{name}"}, **spec}
    if node:
        body["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    return PersistentVolume.from_dict({"metadata": {"name": name, "labels": labels or {}}, "spec": body,
                                       "status": {"phase": "Available"}})


def pvc(name: str, size: str, cls: str | None = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",),
        selector: dict[str, str] | None = None, node: str | None = None, **spec: Any) -> PersistentVolumeClaim:
    body: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}
    if cls is not None:
        body["storageClassName"] = cls
    if selector:
        body["selector"] = {"matchLabels": selector}
    annotations = {SELECTED_NODE_ANNOTATION: node} if node else {}
    return PersistentVolumeClaim.from_dict({"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                                                         "annotations": annotations}, "spec": body})


LOCAL = StorageClass.from_dict({"metadata": {"name": "local-path"}, "provisioner": "kubelite.io/local-path",
                                "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"})
NODES = {"n1": Node.from_dict({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"},
                                            "annotations": {NODE_DATA_DIR_ANNOTATION: "/data/nodes/n1"}}})}


def test_smallest_fitting_volume_of_the_class_wins() -> None:
    volumes = [pv("big", "10Gi"), pv("small", "1Gi"), pv("tiny", "100Mi"), pv("other", "2Gi", cls="fast")]
    action = plan_claim(pvc("c", "500Mi"), volumes, {}, NODES)
    assert isinstance(action, Bind) and action.volume.metadata.name == "small"


def test_access_modes_and_selector_must_match() -> None:
    volumes = [pv("rwo", "1Gi"), pv("rwx", "5Gi", modes=("ReadWriteMany", "ReadWriteOnce"), labels={"tier": "db"})]
    action = plan_claim(pvc("c", "1Gi", modes=("ReadWriteMany",)), volumes, {}, NODES)
    assert isinstance(action, Bind) and action.volume.metadata.name == "rwx"
    action = plan_claim(pvc("c", "1Gi", selector={"tier": "web"}), volumes, {}, NODES)
    assert isinstance(action, Wait) and action.reason == "ProvisioningFailed"  # class "manual" does not exist


def test_a_volume_bound_to_another_claim_is_not_taken() -> None:
    taken = pv("v", "1Gi", claimRef={"namespace": "default", "name": "other", "uid": "uid-other"})
    action = plan_claim(pvc("c", "1Gi", cls=""), [taken], {}, NODES)
    assert isinstance(action, Wait) and "no persistent volumes available" in action.message


def test_a_volume_reserved_for_the_claim_is_bound_and_then_complete() -> None:
    reserved = pv("v", "1Gi", claimRef={"namespace": "default", "name": "c"})
    claim = pvc("c", "1Gi")
    assert isinstance(plan_claim(claim, [reserved], {}, NODES), Bind)
    claim.spec.volume_name = "v"
    reserved.spec.claim_ref.uid = "uid-c"  # type: ignore[union-attr]
    assert isinstance(plan_claim(claim, [reserved], {}, NODES), Complete)


def test_wait_for_first_consumer_then_provision_on_the_selected_node() -> None:
    classes = {"local-path": LOCAL}
    waiting = plan_claim(pvc("c", "1Gi", cls="local-path"), [], classes, NODES)
    assert isinstance(waiting, Wait) and waiting.reason == "WaitForFirstConsumer" and not waiting.warning
    action = plan_claim(pvc("c", "1Gi", cls="local-path", node="n1"), [], classes, NODES)
    assert isinstance(action, Provision)
    made = action.volume
    assert made.metadata.name == "pvc-uid-c"
    assert made.spec.host_path is not None and made.spec.host_path.path == "/data/nodes/n1/volumes/local-path/pvc-uid-c"
    assert made.spec.capacity == {"storage": "1Gi"} and made.spec.persistent_volume_reclaim_policy == "Delete"
    assert made.spec.claim_ref is not None and made.spec.claim_ref.uid == "uid-c"
    assert made.metadata.annotations[LOCAL_PATH_NODE_ANNOTATION] == "n1"
    assert made.metadata.finalizers == [LOCAL_PATH_FINALIZER]


def test_a_static_volume_on_another_node_does_not_bind_a_claim_scheduled_elsewhere() -> None:
    elsewhere = pv("v", "1Gi", cls="local-path", node="n2")
    action = plan_claim(pvc("c", "1Gi", cls="local-path", node="n1"), [elsewhere], {"local-path": LOCAL}, NODES)
    assert isinstance(action, Provision)


def test_read_write_many_from_local_path_is_refused_with_a_clear_event() -> None:
    action = plan_claim(pvc("c", "1Gi", cls="local-path", modes=("ReadWriteMany",), node="n1"), [],
                        {"local-path": LOCAL}, NODES)
    assert isinstance(action, Wait) and action.warning and action.reason == "ProvisioningFailed"
    assert "ReadWriteMany" in action.message and "ReadWriteOnce" in action.message


def test_unknown_class_is_named() -> None:
    action = plan_claim(pvc("c", "1Gi", cls="gold"), [], {"local-path": LOCAL}, NODES)
    assert isinstance(action, Wait) and action.message == 'storageclass.storage.k8s.io "gold" not found'


def test_reclaim_delete_retain_and_phases() -> None:
    claim = pvc("c", "1Gi")
    bound = pv("v", "1Gi", claimRef={"namespace": "default", "name": "c", "uid": "uid-c"},
               persistentVolumeReclaimPolicy="Delete")
    claim.spec.volume_name = "v"
    assert plan_volume(bound, {"default/c": claim}).phase == "Bound"
    gone = plan_volume(bound, {})
    assert (gone.phase, gone.delete) == ("Released", True)
    bound.spec.persistent_volume_reclaim_policy = "Retain"
    kept = plan_volume(bound, {})
    assert (kept.phase, kept.delete) == ("Released", False) and "retained" in kept.message
    recreated = pvc("c", "1Gi")
    recreated.metadata.uid = "uid-new"
    assert plan_volume(bound, {"default/c": recreated}).phase == "Released", "a new claim of the same name is not it"
    assert plan_volume(pv("free", "1Gi"), {}).phase == "Available"
