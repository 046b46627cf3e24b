"""Proposals waiting for the Raft loop: queued requests, their futures and deadlines.

Why apart from the member (`kvstore.node`): what a proposer waits on is its own
small bookkeeping -- request ids unique across members and restarts, a future per
request answered by id when *its* entry is applied, conf changes one per node id,
and one deadline queue (checked each tick) instead of a timer per request. The
loop only asks whether there is something to propose and hands it to Raft.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable

from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.member_core import MemberCore
from kvstore.raft import ConfChange, ProposalDropped, RawNode

AnyFuture = asyncio.Future[PbMessage] | asyncio.Future[None]


class ProposalQueue:
    """Requests and conf changes from queued to proposed to answered (or expired)."""

    def __init__(self) -> None:
        self.requests: list[internal_pb2.InternalRaftRequest] = []
        self.conf_changes: list[ConfChange] = []
        self.waiters: dict[int, asyncio.Future[PbMessage]] = {}
        self.conf_waiters: dict[int, asyncio.Future[None]] = {}
        self.deadlines: deque[tuple[float, AnyFuture]] = deque()
        self.blocked = False
        """Raft refused a proposal (no leader yet): wait for a tick or a leader change."""
        self._id_prefix = 0
        self._id_seq = 0

    def set_member(self, member_id: int) -> None:
        """Request ids: member id and a random per-process part above a sequence number."""
        self._id_prefix = (member_id & 0xFFFF) << 48 | secrets.randbits(16) << 32

    def next_id(self) -> int:
        self._id_seq = (self._id_seq + 1) & 0xFFFFFFFF
        return self._id_prefix | self._id_seq

    def has_work(self) -> bool:
        return bool((self.requests and not self.blocked) or self.conf_changes)

    # ------------------------------------------------------------------ callers

    def add(self, req: internal_pb2.InternalRaftRequest, timeout: float) -> asyncio.Future[PbMessage]:
        """Queue `req` (its ID set) and return the future its answer arrives on (or fails at
        `timeout` seconds from now)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PbMessage] = loop.create_future()
        self.waiters[req.ID] = fut
        self.deadlines.append((loop.time() + timeout, fut))
        self.requests.append(req)
        return fut

    def add_deadline(self, fut: AnyFuture, timeout: float) -> None:
        """Fail `fut` (e.g. a read) like a request `timeout` seconds from now."""
        self.deadlines.append((asyncio.get_running_loop().time() + timeout, fut))

    def add_conf_change(self, cc: ConfChange) -> asyncio.Future[None]:
        if cc.node_id in self.conf_waiters:
            raise errors.conf_change_pending()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.conf_waiters[cc.node_id] = fut
        self.conf_changes.append(cc)
        return fut

    def expire(self, error: Callable[[], KVError]) -> None:
        """Fail requests whose deadline passed with `error()`.

        The error is indeterminate for writes: the entry may still commit later.
        """
        now = asyncio.get_running_loop().time()
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= now:
            fut = deadlines.popleft()[1]
            if not fut.done():
                fut.set_exception(error())

    def fail_all(self, exc: KVError) -> None:
        """Fail every waiting request and conf change with `exc`; drop the queue."""
        futs: list[AnyFuture] = [*self.waiters.values(), *self.conf_waiters.values()]
        for fut in futs:
            if not fut.done():
                fut.set_exception(exc)
        self.requests.clear()

    # ------------------------------------------------------------------ the loop

    def propose(self, core: MemberCore) -> None:
        """Propose the queued requests whose caller still waits; keep what Raft refused."""
        pending = [r for r in self.requests if r.ID in self.waiters]  # skip requests whose caller gave up
        self.requests = []
        proposed = core.propose_requests(pending)
        if proposed < len(pending):
            self.requests.extend(pending[proposed:])  # no leader yet: retry on the next tick / leader change
            self.blocked = True

    def propose_conf_changes(self, raw: RawNode, leader: int) -> None:
        while self.conf_changes:
            cc = self.conf_changes.pop(0)
            try:
                raw.propose_conf_change(cc)
            except ProposalDropped:
                fut = self.conf_waiters.pop(cc.node_id, None)
                if fut is not None and not fut.done():
                    fut.set_exception(errors.conf_change_pending() if leader else errors.no_leader())

    def answer(self, req_id: int, result: PbMessage | KVError) -> bool:
        """Wake the request's waiter, if it is here; whether one was woken."""
        fut = self.waiters.pop(req_id, None)
        if fut is None or fut.done():
            return False
        if isinstance(result, KVError):
            fut.set_exception(result)
        else:
            fut.set_result(result)
        return True

    def conf_applied(self, cc: ConfChange) -> None:
        fut = self.conf_waiters.pop(cc.node_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)
