"""All pod workers of a node: who runs, who is woken, and the clean shutdown.

Why a dispatcher around `PodWorker` (`pod_sync`): informer events, container exits and the
periodic housekeeping all arrive here and must reach the right worker (by pod
uid: a pod deleted and recreated under the same name is a different pod with
its own worker). Housekeeping also compares the informer's cache with the
workers, so a missed event can only delay, never lose, a start or a stop.

The dispatcher also owns what pods share: a watch on each ConfigMap and Secret
its pods use (`objectwatch`: per object, as the Node authorizer allows; their
changes wake the pods that use them, which re-project their volumes), the image
puller, the sandboxes a previous kubelet left to adopt (listed once at
startup by `load_adopted`, before any pod arrives), and the lookup of a
running container for `exec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path

from kubelet import layout
from kubelet.backoff import BackOff
from kubelet.image_pulls import ImagePuller, ImageService
from kubelet.objectwatch import ObjectWatches
from kubelet.pod_config import DnsHook, default_dns
from kubelet.pod_context import SYNC_FREQUENCY_SECONDS, Clock, ReadinessHook, Recorder, WorkerContext
from kubelet.pod_sync import PodWorker
from kubelet.runtime import AttachableRuntime, ContainerStatus, ExecSession, Runtime, RuntimeFailure
from kubelet.tokens import TokenManager
from kubelite.api import Pod, Resource
from kubelite.api.errors import ApiError, BadRequest, NotFound
from kubelite.client import ApiClient, Informer

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_CAP = 10.0
"""On kubelet SIGTERM, pods get their grace period but at most this long (in parallel)."""

def remove_orphan_dirs(data_dir: Path, keep_uids: set[str]) -> list[Path]:
    """Delete pod log/work/volume directories of pods that no longer exist (e.g. deleted
    while this kubelet was down). Returns what was removed.

    Only directories named like a pod (`layout.pod_key`) are candidates: `volumes/`
    also holds `local-path/`, every claim's data on this node, which an earlier
    version removed on each scan (a StatefulSet pod came back to an empty volume).
    """
    removed = []
    for parent in (data_dir / "pods", data_dir / "sandboxes", data_dir / "volumes"):
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            uid = layout.uid_of_pod_key(entry.name)
            if uid is not None and uid not in keep_uids and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


FINISHED_MEMORY = 4096
INFLIGHT_WAIT = 2.0
ORPHAN_SCAN_SECONDS = 60.0
HOUSEKEEPING_SECONDS = 2.0
"""Kubernetes' kubelet housekeeping period. Why not every pod resync (1 s): the informer's
events start and stop the workers; housekeeping only catches what an event missed."""

class PodDispatcher:
    """Routes every input to the worker of its pod (by uid) and owns what pods share."""

    def __init__(
        self,
        client: ApiClient,
        runtime: Runtime,
        node_name: str,
        node_ip: str,
        data_dir: Path,
        recorder: Recorder | None = None,
        readiness: ReadinessHook | None = None,
        resync_seconds: float = 1.0,
        sync_frequency: float = SYNC_FREQUENCY_SECONDS,
        backoff: BackOff | None = None,
        images: ImageService | None = None,
        pull_backoff: BackOff | None = None,
        dns: DnsHook = default_dns,
        clock: Clock = time.time,
    ) -> None:
        self.node_name = node_name
        self.objects = ObjectWatches(client, self._object_changed)
        self.ctx = WorkerContext(
            client=client, runtime=runtime, node_name=node_name, node_ip=node_ip, data_dir=data_dir,
            backoff=backoff or BackOff(), recorder=recorder, readiness=readiness, resync_seconds=resync_seconds,
            sync_frequency=sync_frequency, objects=self.objects,
            images=ImagePuller(images, pull_backoff), dns=dns, clock=clock,
            tokens=TokenManager(client, clock),
        )
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._finished: dict[str, None] = {}  # uids done for good (insertion-ordered, bounded)
        runtime.add_exit_listener(self._on_container_exit)

    # -- event inputs (sync, cheap: they only route and wake) -----------------------

    def pod_updated(self, pod: Pod) -> None:
        uid = pod.metadata.uid
        if self._stopping or not uid or pod.spec.node_name != self.node_name:
            return
        worker = self.workers.get(uid)
        if worker is not None:
            self.objects.register(pod)
            worker.update(pod)
            return
        if uid in self._finished:
            return  # a late event about a pod this node already finished and deleted
        self.objects.register(pod)
        worker = PodWorker(self.ctx, pod)
        log.info("pod assigned to this node", extra={"pod": worker.key, "uid": uid})
        self.workers[uid] = worker
        task = asyncio.create_task(self._run(worker), name=f"pod-worker {worker.key}")
        self._tasks[uid] = task

    def pod_removed(self, pod: Pod) -> None:
        worker = self.workers.get(pod.metadata.uid or "")
        if worker is not None:
            worker.mark_gone(pod)

    def _on_container_exit(self, status: ContainerStatus) -> None:
        for worker in self.workers.values():
            if worker.sandbox_id == status.sandbox_id:
                worker.wake()

    def _object_changed(self, obj: Resource) -> None:
        kind, ns, name = obj.kind, obj.metadata.namespace or "default", obj.metadata.name or ""
        for worker in self.workers.values():
            if worker.uses_object(kind, ns, name):
                worker.refs_changed()

    def attach(self, informer: Informer[Pod]) -> None:
        informer.add_handlers(
            on_add=self.pod_updated,
            on_update=lambda _old, new: self.pod_updated(new),
            on_delete=self.pod_removed,
        )

    async def _run(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        finally:
            if worker.finished:
                self.objects.unregister(worker.uid)
                self.workers.pop(worker.uid, None)
                self._tasks.pop(worker.uid, None)
                self._finished[worker.uid] = None
                while len(self._finished) > FINISHED_MEMORY:
                    del self._finished[next(iter(self._finished))]

    # -- housekeeping ---------------------------------------------------------------

    async def housekeeping(self, informer: Informer[Pod]) -> None:
        """Until cancelled: make the set of workers match the informer's pods, and
        now and then remove pod directories nobody owns any more."""
        loop = asyncio.get_running_loop()
        next_scan = 0.0
        orphans_checked = False
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS if orphans_checked else self.ctx.resync_seconds)
            if not informer.has_synced:
                continue
            pods = informer.store.list()
            self.reconcile(pods)
            if not orphans_checked:
                orphans_checked = True
                await self.remove_unclaimed_sandboxes({p.metadata.uid or "" for p in pods})
            if loop.time() >= next_scan:
                next_scan = loop.time() + ORPHAN_SCAN_SECONDS
                keep = {p.metadata.uid or "" for p in pods} | set(self.workers)
                await asyncio.to_thread(remove_orphan_dirs, self.ctx.data_dir, keep)

    async def load_adopted(self) -> None:
        """Remember the sandboxes a previous kubelet left running (runc), for their pods'
        workers to adopt instead of starting the containers again. Called once at
        startup, before the pod informer delivers pods, so no worker has to wait."""
        try:
            sandboxes = await self.ctx.runtime.list_pod_sandboxes()
        except RuntimeFailure as exc:
            log.warning("cannot list pod sandboxes to re-adopt: %s", exc)
            sandboxes = []
        known = {w.sandbox_id for w in self.workers.values()}
        for sandbox in sandboxes:
            if sandbox.uid and sandbox.id not in known:
                self.ctx.adopted[sandbox.uid] = sandbox
        if self.ctx.adopted:
            log.info("found pod sandboxes to re-adopt", extra={"sandboxes": len(self.ctx.adopted)})

    async def remove_unclaimed_sandboxes(self, pod_uids: set[str]) -> None:
        """Sandboxes of pods deleted while no kubelet ran: stop and remove them."""
        for uid, sandbox in list(self.ctx.adopted.items()):
            if uid in pod_uids or uid in self.workers:
                continue
            del self.ctx.adopted[uid]
            log.info("removing the sandbox of a pod that no longer exists", extra={"uid": uid, "id": sandbox.id})
            try:
                await self.ctx.runtime.stop_pod_sandbox(sandbox.id, 0.0)
                await self.ctx.runtime.remove_pod_sandbox(sandbox.id)
            except RuntimeFailure as exc:
                log.warning("removing sandbox %s failed: %s", sandbox.id, exc)

    # -- exec -----------------------------------------------------------------------

    def find_worker(self, namespace: str, name: str, uid: str = "") -> PodWorker | None:
        if uid:
            return self.workers.get(uid)
        matches = [w for w in self.workers.values()
                   if w.pod.metadata.name == name and (w.pod.metadata.namespace or "default") == namespace]
        return matches[-1] if matches else None

    def _running_container(self, namespace: str, name: str, uid: str, container: str) -> tuple[str, str]:
        """(runtime container id, container name) of a running container of a pod on this node."""
        worker = self.find_worker(namespace, name, uid)
        if worker is None:
            raise NotFound(f'pod "{name}" in namespace "{namespace}" is not running on this node')
        names = [c.name for c in [*worker.pod.spec.init_containers, *worker.pod.spec.containers]]
        if not container:
            main = [c.name for c in worker.pod.spec.containers]
            if len(main) != 1:
                raise BadRequest(f"a container name must be specified for pod {name}, choose one of: "
                                 f"[{' '.join(main)}]")
            container = main[0]
        if container not in names:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        cid = worker.container_id(container)
        if cid is None:
            raise BadRequest(f'container "{container}" in pod "{name}" is not running')
        return cid, container

    async def open_exec(
        self, namespace: str, name: str, uid: str, container: str, command: list[str], tty: bool
    ) -> ExecSession:
        """Start `command` in a running container of a pod on this node (kctl exec)."""
        cid, container = self._running_container(namespace, name, uid, container)
        try:
            return await self.ctx.runtime.exec_stream(cid, command, tty)
        except RuntimeFailure as exc:
            raise BadRequest(f"exec in container {container!r} of pod {name!r} failed: {exc}") from None
        except OSError as exc:
            raise ApiError.from_status({"reason": "InternalError", "code": 500,
                                        "message": f"exec failed: {exc}"}) from None

    async def attach_socket(self, namespace: str, name: str, uid: str, container: str) -> Path:
        """Where a running container's stdio is served (conmon's attach socket; runc runtime only)."""
        cid, container = self._running_container(namespace, name, uid, container)
        runtime = self.ctx.runtime
        if not isinstance(runtime, AttachableRuntime):
            raise BadRequest(f"cannot attach to container {container!r}: the {type(runtime).__name__} keeps no "
                             "attachable stdio (attach needs the runc runtime)")
        return runtime.attach_socket(cid)

    async def pod_netns(self, namespace: str, name: str, uid: str) -> str:
        """The network namespace of a running pod on this node, for port forwarding ("" = the host's)."""
        worker = self.find_worker(namespace, name, uid)
        sandbox = worker.sandbox_id if worker is not None else None
        if worker is None or sandbox is None:
            raise NotFound(f'pod "{name}" in namespace "{namespace}" is not running on this node')
        try:
            return (await self.ctx.runtime.pod_sandbox_status(sandbox)).netns_path
        except RuntimeFailure as exc:
            raise BadRequest(f"port-forward to pod {name!r}: its sandbox is gone: {exc}") from None

    def reconcile(self, pods: list[Pod]) -> None:
        present = {p.metadata.uid for p in pods if p.spec.node_name == self.node_name}
        for pod in pods:
            self.pod_updated(pod)
        for uid, worker in list(self.workers.items()):
            if uid not in present and not worker.gone:
                log.info("pod no longer in the API; stopping it", extra={"pod": worker.key})
                worker.mark_gone()

    # -- shutdown -------------------------------------------------------------------

    async def shutdown(self, cap: float = SHUTDOWN_GRACE_CAP) -> None:
        """Stop every pod's containers (in parallel, each within its grace period up to
        `cap`), then make sure the runtime has nothing left running.

        A runtime whose containers outlive the kubelet (runc, `isolated`) keeps them
        running: the next kubelet adopts them."""
        self._stopping = True
        workers = list(self.workers.values())
        log.info("stopping all pods before exit", extra={"pods": len(workers)})
        for worker in workers:
            worker.stopping = True
            worker.wake()
        tasks = list(self._tasks.values())
        if tasks:
            # Let in-flight syncs finish so no start races with the stop below.
            _done, pending = await asyncio.wait(tasks, timeout=min(cap, INFLIGHT_WAIT))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        async def stop(worker: PodWorker) -> None:
            with contextlib.suppress(Exception):
                if self.ctx.runtime.isolated:
                    await worker.detach()
                else:
                    await worker.stop_containers(min(worker.grace_seconds(), cap))

        await asyncio.gather(*(stop(w) for w in workers))
        await self.ctx.runtime.shutdown(0.0)
