"""Waiting out a failed disk: retry until the member can be rebuilt from what is on it.

Why apart from the node: after a `StorageFault` the member's in-memory Raft
state may be ahead of its disk, so the only safe way back is the crash-recovery
path -- cut the WAL back to its last good fsync, prove there is room again,
then load snapshot + WAL as at start-up. This module owns that loop (with
back-off, so a disk that stays full costs almost nothing) and the user-facing
account of the outage; the node only swaps in the rebuilt state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from kvstore.logdisk import WalDisk
from kvstore.membership import Meta
from kvstore.recovery import Recovered, recover
from kvstore.storagefault import StorageFault

log = logging.getLogger(__name__)


class DiskWait:
    """The storage-fault state a node shows (health, Status) and its retry loop."""

    def __init__(self, member_dir: Path, interval: float) -> None:
        self.member_dir = member_dir
        self.interval = interval
        self.max_interval = interval * 10
        """Back-off cap: a member is back at most this long after its disk is (5 s by default)."""
        self.faults = 0
        """Storage faults since start (a metric)."""
        self.fault: StorageFault | None = None
        """The fault being waited out (None: the disk works)."""
        self._since = 0.0

    def failed(self, fault: StorageFault) -> None:
        self.faults += 1
        self.fault = fault
        self._since = time.monotonic()
        log.critical("kvstore storage fault: writes refused until the disk works again", extra={
            "reason": fault.reason, "member_dir": str(self.member_dir), "faults": self.faults})

    def problem(self) -> str | None:
        """Why this member refuses writes, for /readyz and `etcdctl endpoint status` (None: it does not)."""
        if self.fault is None:
            return None
        hint = "free space in" if self.fault.no_space else "check the disk holding"
        return (f"{self.fault.reason}; refusing writes for {time.monotonic() - self._since:.0f}s, "
                f"retrying ({hint} {self.member_dir})")

    async def recovered(self, disk: WalDisk, meta: Meta) -> Recovered:
        """Retry (with back-off) until the disk takes writes again; the state rebuilt from it."""
        delay = self.interval
        while True:
            await asyncio.sleep(delay)
            try:
                await asyncio.to_thread(disk.repair)
                rec = await recover(self.member_dir, meta)
            except (StorageFault, OSError) as exc:
                reason = exc.reason if isinstance(exc, StorageFault) else repr(exc)
                log.warning("kvstore disk still failing", extra={"reason": reason, "retry_in": delay})
                delay = min(delay * 2, self.max_interval)
                continue
            log.warning("kvstore disk works again; rejoining from the log on disk", extra={
                "outage_seconds": round(time.monotonic() - self._since, 3), "commit": rec.hard_state.commit,
                "wal_entries": rec.wal_entries})
            self.fault = None
            return rec
