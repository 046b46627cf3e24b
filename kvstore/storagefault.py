"""Faults of a member's disk: a full filesystem, a failed write or a failed fsync.

Why a typed error instead of letting the OSError kill the Raft loop: a full
disk is an operational condition, not a bug. The member must stop acknowledging
anything (a vote, an append, a client write) it cannot make durable, hand over
leadership, tell clients and the health endpoint why, and come back by itself
once space is freed -- while the other members keep the cluster serving.

The rules a fault follows (the member core and both shells obey them):

* Everything written since the last *successful* fsync is treated as lost, never
  as durable: Linux may drop the dirty pages of a failed writeback and report
  the error only once, so retrying fsync on the same file descriptor and seeing
  success proves nothing (PostgreSQL's "fsyncgate"). The WAL is cut back to the
  length its last good fsync covered (`Wal.abandon`), through a fresh descriptor.
* The Ready whose write failed is dropped: its messages are never sent and its
  committed entries are not applied from it; the in-memory Raft state, which may
  be ahead of the disk (a vote, appended entries), is thrown away. When the disk
  works again the member is rebuilt from what is on disk, exactly as after a
  crash, and catches up from the leader.
* A leader that fails first asks its most caught-up follower to campaign at once
  (Raft's TimeoutNow, carrying only its already durable term), so leadership
  moves in one round trip instead of an election timeout.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from kvstore.errors import KVError

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
PROBE_BYTES = 1024 * 1024
"""Free space a recovering member must be able to write and fsync before it resumes."""


class StorageFault(Exception):
    """The member's disk refused a write or an fsync: data since the last good sync may be lost."""

    def __init__(self, action: str, cause: OSError | None = None) -> None:
        self.action = action
        self.errno = cause.errno if cause is not None else None
        self.cause = cause
        super().__init__(self.reason)

    @property
    def no_space(self) -> bool:
        return self.errno in NO_SPACE_ERRNOS

    @property
    def reason(self) -> str:
        """One line a user can act on, e.g. `no space left on device (ENOSPC) while writing the WAL`."""
        if self.cause is None:
            return f"storage failure while {self.action}"
        name = errno.errorcode.get(self.errno or 0, "")
        text = (self.cause.strerror or str(self.cause)).lower()
        return f"{text} ({name or self.errno}) while {self.action}"


def kv_error(fault: StorageFault) -> KVError:
    """What a client of a member with a failed disk is told (UNAVAILABLE: try another member)."""
    if fault.no_space:
        return KVError(grpc.StatusCode.UNAVAILABLE,
                       f"etcdserver: no space: {fault.reason}; this member refuses writes until space is freed")
    return KVError(grpc.StatusCode.UNAVAILABLE, f"etcdserver: storage failure: {fault.reason}")


@contextmanager
def storage_op(action: str) -> Iterator[None]:
    """Turn an OSError of the disk operation in the block into a StorageFault naming `action`."""
    try:
        yield
    except OSError as exc:
        raise StorageFault(action, exc) from exc


def probe(directory: Path, size: int = PROBE_BYTES) -> None:
    """Write and fsync `size` bytes in `directory`, then remove them; StorageFault if the disk refuses.

    Why before resuming: a member that rejoins on a still-full disk would fail its
    next append at once; proving there is room first keeps it from flapping.
    """
    path = directory / "space-probe.tmp"
    with storage_op(f"checking for free space in {directory}"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                block = b"\0" * 65536
                left = size
                while left > 0:
                    left -= os.write(fd, block[:left])
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)
