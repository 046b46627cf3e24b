"""The node side of PersistentVolumes: claim volumes for pods, and the local-path directories' lifecycle.

Why the kubelet makes and removes the directories (and not the control plane):
a local-path volume lives on one node's disk, under that node's `--data-dir`
(`<data dir>/volumes/local-path/<pv>`), and with nodes on separate machines
only that node's own agent can touch it. The mechanism is a watch plus a
finalizer, so neither side needs a new API:

* the PV controller creates the PV with annotation `kubelite.io/local-path-node`
  naming the node and the finalizer `kubelite.io/local-path-cleanup`;
* this node's kubelet watches PersistentVolumes; for a PV of its own it makes
  the directory as soon as the PV appears (and again, idempotently, when a pod
  mounts it, so a pod never waits on the watch);
* when the PV is deleted (reclaim policy Delete), its deletionTimestamp is set
  but the finalizer holds it; the kubelet removes the directory, then removes
  the finalizer and the PV disappears. If the node is down the PV stays
  Terminating -- the data is not silently leaked, and `kubectl get pv` shows it.
  While a pod on this node still mounts the volume (its claim was deleted
  under it), the directory is kept until that pod is gone.

The kubelet only ever deletes below its own `<data dir>/volumes/local-path/`,
whatever a PV says.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from kubelet.envvars import ConfigError
from kubelite.api import Pod
from kubelite.api.errors import ApiError, NotFound
from kubelite.api.podutil import claim_names
from kubelite.api.storage import (
    LOCAL_PATH_FINALIZER,
    LOCAL_PATH_NODE_ANNOTATION,
    LOCAL_PATH_SUBDIR,
    PersistentVolume,
    PersistentVolumeClaim,
    pv_path,
)
from kubelite.client import ApiClient, Informer

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""A failed directory removal or finalizer release is tried again after this long."""


class ClaimPending(ConfigError):
    """A claim the pod uses is not bound yet: the pod waits in ContainerCreating."""

    reason = "ContainerCreating"


def local_path_root(data_dir: Path) -> Path:
    return data_dir / LOCAL_PATH_SUBDIR


def owned_dir(data_dir: Path, pv: PersistentVolume, node_name: str) -> Path | None:
    """The directory of a local-path PV of this node, if its path really lies in our local-path root."""
    if pv.metadata.annotations.get(LOCAL_PATH_NODE_ANNOTATION) != node_name:
        return None
    path_text = pv_path(pv)
    if not path_text:
        return None
    root = local_path_root(data_dir).resolve()
    path = Path(path_text)
    if path.parent.resolve() != root or path.name != pv.metadata.name:
        return None
    return path


def make_dir(path: Path) -> None:
    """World-writable like k3s' local-path volumes: any container user may write its claim."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)


async def claim_paths(client: ApiClient, pod: Pod, data_dir: Path, node_name: str) -> dict[str, Path]:
    """Claim name -> host directory of its bound volume, for every claim the pod mounts.

    Raises ClaimPending while a claim is missing or unbound, ConfigError when its
    volume cannot be used on this node.
    """
    ns = pod.metadata.namespace or "default"
    out: dict[str, Path] = {}
    for vol in pod.spec.volumes:
        source = vol.persistent_volume_claim
        if source is None or source.claim_name in out:
            continue
        name = source.claim_name
        try:
            pvc = await client.get(PersistentVolumeClaim, name, ns)
        except NotFound:
            raise ClaimPending(f'persistentvolumeclaim "{name}" not found') from None
        if not pvc.spec.volume_name or pvc.status.phase != "Bound":
            raise ClaimPending(f'persistentvolumeclaim "{name}" is not bound yet (waiting for its volume to be '
                               "provisioned or bound)")
        try:
            pv = await client.get(PersistentVolume, pvc.spec.volume_name, "")
        except NotFound:
            raise ClaimPending(f'persistentvolumeclaim "{name}" is bound to volume "{pvc.spec.volume_name}", '
                               "which does not exist") from None
        owned = owned_dir(data_dir, pv, node_name)
        if owned is not None:
            await asyncio.to_thread(make_dir, owned)
            out[name] = owned
            continue
        if pv.metadata.annotations.get(LOCAL_PATH_NODE_ANNOTATION):
            raise ConfigError(f'volume "{pv.metadata.name}" of claim "{name}" lives on node '
                              f'{pv.metadata.annotations[LOCAL_PATH_NODE_ANNOTATION]}, not on {node_name}')
        path_text = pv_path(pv)
        if not path_text:
            raise ConfigError(f'volume "{pv.metadata.name}" has no hostPath or local path')
        path = Path(path_text)
        if pv.spec.host_path is not None and pv.spec.host_path.type == "DirectoryOrCreate":
            await asyncio.to_thread(make_dir, path)
        if not path.is_dir():
            raise ConfigError(f'volume "{pv.metadata.name}" path {path_text} is not a directory on this node')
        out[name] = path
    return out


def pods_use(pods: Iterable[Pod], pv: PersistentVolume) -> bool:
    """Whether a pod that has not finished mounts the claim `pv` is (or was) bound to."""
    ref = pv.spec.claim_ref
    if ref is None:
        return False
    for pod in pods:
        if pod.metadata.namespace != ref.namespace or pod.status.phase in ("Succeeded", "Failed"):
            continue
        if ref.name in claim_names(pod):
            return True
    return False


class LocalPathVolumes:
    """Makes and removes this node's local-path directories as their PVs come and go (see module doc)."""

    def __init__(self, client: ApiClient, node_name: str, data_dir: Path,
                 in_use: Callable[[PersistentVolume], bool] = lambda _pv: False) -> None:
        self.client = client
        self.in_use = in_use
        self.node_name = node_name
        self.data_dir = data_dir
        self.informer: Informer[PersistentVolume] = Informer(client, PersistentVolume)
        self.informer.add_handlers(self._changed, lambda _old, new: self._changed(new))
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        await self.informer.run()

    def _changed(self, pv: PersistentVolume) -> None:
        path = owned_dir(self.data_dir, pv, self.node_name)
        name = pv.metadata.name or ""
        if path is None or name in self._busy:
            return
        self._busy.add(name)
        task = asyncio.get_running_loop().create_task(self._sync(pv, path), name=f"local-path-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync(self, pv: PersistentVolume, path: Path) -> None:
        name = pv.metadata.name or ""
        try:
            if pv.metadata.deletion_timestamp is None:
                await asyncio.to_thread(make_dir, path)
            elif LOCAL_PATH_FINALIZER in pv.metadata.finalizers:
                if self.in_use(pv):  # a pod here still mounts it: its data stays until the pod is gone
                    asyncio.get_running_loop().call_later(RETRY_SECONDS, self._recheck, name)
                    return
                await asyncio.to_thread(shutil.rmtree, path, True)
                await self._release(name)
                log.info("removed local-path volume", extra={"volume": name, "path": str(path)})
        except (OSError, ApiError) as exc:
            log.warning("local-path volume sync failed; retrying", extra={"volume": name, "error": str(exc)})
            asyncio.get_running_loop().call_later(RETRY_SECONDS, self._recheck, name)
        finally:
            self._busy.discard(name)

    def _recheck(self, name: str) -> None:
        pv = self.informer.store.get(name)
        if pv is not None:
            self._changed(pv)

    async def _release(self, name: str) -> None:
        def drop(pv: PersistentVolume) -> bool:
            if LOCAL_PATH_FINALIZER not in pv.metadata.finalizers:
                return False
            pv.metadata.finalizers = [f for f in pv.metadata.finalizers if f != LOCAL_PATH_FINALIZER]
            return True

        try:
            await self.client.update_with_retry(PersistentVolume, name, "", drop)
        except NotFound:
            pass
