"""All pod workers of a node: who runs, who is woken, and the clean shutdown.

Why a manager around `PodWorker`: informer events, container exits and the
periodic housekeeping all arrive here and must reach the right worker (by pod
uid: a pod deleted and recreated under the same name is a different pod with
its own worker). Housekeeping also compares the informer's cache with the
workers, so a missed event can only delay, never lose, a start or a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from api import Pod
from client import ApiClient, Informer
from kubelet.backoff import BackOff
from kubelet.pod_worker import PodWorker, ReadinessHook, Recorder, WorkerContext
from kubelet.runtime import ContainerStatus, Runtime

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_CAP = 10.0
"""On kubelet SIGTERM, pods get their grace period but at most this long (in parallel)."""

def remove_orphan_dirs(data_dir: Path, keep_uids: set[str]) -> list[Path]:
    """Delete pod log/work directories of pods that no longer exist (e.g. deleted
    while this kubelet was down). Returns what was removed."""
    removed = []
    for parent in (data_dir / "pods", data_dir / "sandboxes"):
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            uid = entry.name.rpartition("_")[2]
            if entry.is_dir() and uid and uid not in keep_uids:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


FINISHED_MEMORY = 4096
INFLIGHT_WAIT = 2.0
ORPHAN_SCAN_SECONDS = 60.0


class PodWorkers:
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
        backoff: BackOff | None = None,
    ) -> None:
        self.node_name = node_name
        self.ctx = WorkerContext(
            client=client, runtime=runtime, node_name=node_name, node_ip=node_ip, data_dir=data_dir,
            backoff=backoff or BackOff(), recorder=recorder, readiness=readiness, resync_seconds=resync_seconds,
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
            worker.update(pod)
            return
        if uid in self._finished:
            return  # a late event about a pod this node already finished and deleted
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
        while True:
            await asyncio.sleep(self.ctx.resync_seconds)
            if not informer.has_synced:
                continue
            pods = informer.store.list()
            self.reconcile(pods)
            if loop.time() >= next_scan:
                next_scan = loop.time() + ORPHAN_SCAN_SECONDS
                keep = {p.metadata.uid or "" for p in pods} | set(self.workers)
                await asyncio.to_thread(remove_orphan_dirs, self.ctx.data_dir, keep)

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
        `cap`), then make sure the runtime has nothing left running."""
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
                await worker.stop_containers(min(worker.grace_seconds(), cap))

        await asyncio.gather(*(stop(w) for w in workers))
        await self.ctx.runtime.shutdown(0.0)
