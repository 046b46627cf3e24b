"""The member's disk: the WAL plus snapshot files, as `kvstore.member_core.LogDisk`.

Why apart from the node: these are the blocking writes of the Ready contract
and of a local snapshot; the node runs them in a worker thread so the event
loop keeps serving, while the simulator plugs its own disk into the same core.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kvstore import snapshot
from kvstore.member_core import MemberCore
from kvstore.raft import Entry, HardState, Snapshot
from kvstore.storagefault import StorageFault, probe, storage_op
from kvstore.wal import Wal

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class DiskThread:
    """One long-lived thread that runs the member's WAL writes (+ fsync) off the event loop.

    Why not `asyncio.to_thread`: the leader and a member serving clients hand every
    Raft turn's fsync to a thread, and `to_thread` pays for a context copy, an executor
    work item, a concurrent future chained to an asyncio one and the executor's locks
    each time: ~38 us of CPU per hop on this machine against ~16 us for a queue read by
    one waiting thread and one `call_soon_threadsafe` back. Calls run one at a time, in
    the order given (the loop awaits each before the next Ready).
    """

    def __init__(self, name: str = "wal-sync") -> None:
        self.name = name
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, call: Callable[[], _T]) -> _T:
        """`call()` in the thread (started by the first call); its result or exception."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()
        fut: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._calls.put((call, fut))
        return await fut

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, fut = item
            loop = fut.get_loop()
            result: Any = None
            error: BaseException | None = None
            try:
                result = call()
            except BaseException as exc:  # noqa: BLE001 -- handed to the awaiting task
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, fut, result, error)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more

    async def close(self) -> None:
        """Stop the thread once the calls given so far are done, and wait for that: a write
        still running when the member closes its WAL would use a closed descriptor."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._calls.put(None)
            await asyncio.to_thread(thread.join)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return  # the awaiting task was cancelled (the member is closing)
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class WalDisk:
    """`LogDisk` over the WAL and `member/snap` (blocking methods).

    Every failing disk operation raises `StorageFault` (see `kvstore.storagefault`).
    """

    def __init__(self, snap_dir: Path, wal: Wal) -> None:
        self.snap_dir = snap_dir
        self.wal = wal

    def save_snapshot(self, snap: Snapshot, hard_state: HardState) -> None:
        with storage_op("saving the snapshot received from the leader"):
            snapshot.save_bytes(self.snap_dir, snap.meta.index, snap.data)
            self.wal.mark_snapshot(snap.meta.index, snap.meta.term, hard_state)

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        try:
            self.wal.save(hard_state, entries, sync)
        except OSError as exc:
            what = "syncing the WAL to disk (fdatasync)" if self.wal.failed == "fsync" else "writing the WAL"
            raise StorageFault(what, exc) from exc

    def repair(self) -> None:
        """After a fault: drop what the last good fsync did not cover, then prove there is room
        again (StorageFault if not). The caller then rebuilds the member from disk."""
        with storage_op("cutting the WAL back to its last synced record"):
            self.wal.abandon()
            for tmp in self.snap_dir.glob("*.tmp"):
                tmp.unlink()  # a snapshot cut short by the fault: space for the next one
        probe(self.wal.dir.parent)

    async def take_snapshot(self, core: MemberCore) -> None:
        """Snapshot the state, hand it to Raft, start a WAL segment, drop what the snapshot covers.

        Runs inside the node's loop task, so no entry is applied meanwhile and the
        state read by the worker thread cannot change under it.
        """
        wal = self.wal
        index = core.store.index
        if index <= core.policy.index:
            return
        started = time.monotonic()
        snap_pb = await asyncio.to_thread(core.snapshot_payload)
        data = await asyncio.to_thread(snap_pb.SerializeToString)
        with storage_op("saving a snapshot"):
            await asyncio.to_thread(snapshot.save_bytes, self.snap_dir, index, data)
        core.snapshot_saved(index, data)
        with storage_op("starting a new WAL segment"):
            await asyncio.to_thread(wal.rotate, core.hs)
            removed = await asyncio.to_thread(wal.purge, index)
        log.info("snapshot saved", extra={
            "index": index, "revision": core.store.revision, "purged_segments": removed,
            "seconds": round(time.monotonic() - started, 3),
        })
