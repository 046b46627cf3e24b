"""The VolumeBinding plugin: pods follow their volumes' node affinity; unbound local-path claims go anywhere."""

from __future__ import annotations

from kubelite.api import Pod
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.framework import Code, CycleState, NodeInfo
from scheduler.plugins.volumebinding import VolumeBinding
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import make_node, make_pod


class Volumes:
    def __init__(self, claims: list[PersistentVolumeClaim], volumes: list[PersistentVolume],
                 classes: list[StorageClass]) -> None:
        self.claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in claims}
        self.volumes = {v.metadata.name: v for v in volumes}
        self.classes = {c.metadata.name: c for c in classes}

    def claim(self, namespace: str, name: str) -> PersistentVolumeClaim | None:
        return self.claims.get(f"{namespace}/{name}")

    def volume(self, name: str) -> PersistentVolume | None:
        return self.volumes.get(name)

    def storage_class(self, name: str) -> StorageClass | None:
        return self.classes.get(name)


WFFC = StorageClass.from_dict({"metadata": {"name": "local-path"}, "provisioner": "kubelite.io/local-path",
                               "volumeBindingMode": "WaitForFirstConsumer"})
IMMEDIATE = StorageClass.from_dict({"metadata": {"name": "fast"}, "provisioner": "example.com/nas",
                                    "volumeBindingMode": "Immediate"})
NODES = [NodeInfo(n, make_node(n, labels={"kubernetes.io/hostname": n})) for n in ("n1", "n2")]


def claim(name: str, cls: str = "local-path", volume: str = "", node: str = "") -> PersistentVolumeClaim:
    annotations = {"volume.kubernetes.io/selected-node": node} if node else {}
    return PersistentVolumeClaim.from_dict({
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": cls, **({"volumeName": volume} if volume else {})}})


def local_volume(name: str, node: str) -> PersistentVolume:
    return PersistentVolume.from_dict({"metadata": {"name": name}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}})


def using(*claims: str) -> Pod:
    pod = make_pod("p")
    pod.spec.volumes = Pod.from_dict({"spec": {"volumes": [
        {"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]}}).spec.volumes
    return pod


def feasible(plugin: VolumeBinding, pod: Pod) -> tuple[Code, list[str]]:
    state = CycleState(make_pod_info(pod), NODES)
    pre = plugin.pre_filter(state, pod)
    if pre.code is not Code.SUCCESS:
        return pre.code, list(pre.reasons)
    return pre.code, [n.name for n in NODES if plugin.filter(state, pod, n).ok]


def test_bound_volume_pins_the_pod_to_its_node() -> None:
    plugin = VolumeBinding(Volumes([claim("data", volume="pv-1")], [local_volume("pv-1", "n2")], [WFFC]))
    assert feasible(plugin, using("data")) == (Code.SUCCESS, ["n2"])


def test_unbound_wait_for_first_consumer_claim_fits_anywhere_until_a_node_is_selected() -> None:
    assert feasible(VolumeBinding(Volumes([claim("data")], [], [WFFC])), using("data")) == (Code.SUCCESS, ["n1", "n2"])
    selected = VolumeBinding(Volumes([claim("data", node="n1")], [], [WFFC]))
    assert feasible(selected, using("data")) == (Code.SUCCESS, ["n1"])
    gone = VolumeBinding(Volumes([claim("data", node="n9")], [], [WFFC]))
    assert feasible(gone, using("data")) == (Code.SUCCESS, ["n1", "n2"]), "a vanished node is chosen again"


def test_missing_or_immediate_unbound_claims_are_unschedulable() -> None:
    plugin = VolumeBinding(Volumes([claim("nas", cls="fast")], [], [WFFC, IMMEDIATE]))
    assert feasible(plugin, using("nope")) == (Code.UNSCHEDULABLE, ['persistentvolumeclaim "nope" not found'])
    assert feasible(plugin, using("nas")) == (Code.UNSCHEDULABLE, ["pod has unbound immediate PersistentVolumeClaims"])
    assert plugin.pre_filter(CycleState(make_pod_info(make_pod("plain"))), make_pod("plain")).code is Code.SKIP
