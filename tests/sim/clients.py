"""Simulated clients: each runs one request at a time and records what it observed.

Why clients record only what a real client could see: the linearizability checker must
judge the system from the outside. A write that was handed to a member but never answered
before the deadline is recorded as indeterminate (complete_ns=None); a request refused
up front (ProposalDropped: no leader known) had no effect and is not recorded at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from kvstore.raft.errors import ProposalDropped
from tests.checkers.linearizability import Op
from tests.sim.node import SimNode
from tests.sim.statemachine import encode_request


@dataclass
class _Pending:
    kind: str
    key: str
    value: str | None
    expected: str | None
    invoke: int
    deadline: int
    req_id: int
    done: bool = False


class Client:
    """A closed-loop client: think, send one request to some member, wait (with a timeout)."""

    def __init__(self, cid: int, rng: random.Random, keys: list[str], timeout: int,
                 now: Callable[[], int], history: list[Op]) -> None:
        self.id = cid
        self.rng = rng
        self.keys = keys
        self.timeout = timeout
        self.now = now
        self.history = history
        self.pending: _Pending | None = None
        self.next_at = 0
        self.seq = 0
        self.seen: dict[str, str | None] = {}
        self.stats = {"ok": 0, "timeout": 0, "refused": 0}

    def idle(self) -> bool:
        return self.pending is None

    def _req_id(self) -> int:
        self.seq += 1
        return (self.id << 32) | self.seq

    def act(self, step: int, pick_node: Callable[[], SimNode | None]) -> None:
        """Time out the pending request, or start a new one when the think time is over."""
        p = self.pending
        if p is not None:
            if step >= p.deadline:
                self._finish(p, None, timed_out=True)
                self.next_at = step + self.rng.randint(0, 3)
            return
        if step < self.next_at:
            return
        node = pick_node()
        if node is None:
            self.next_at = step + 2
            return
        self.issue(node, step, self._choose())

    def _choose(self) -> tuple[str, str, str | None, str | None]:
        rng = self.rng
        key = rng.choice(self.keys)
        r = rng.random()
        value = f"c{self.id}.{self.seq + 1}"
        if r < 0.3:
            return "put", key, value, None
        if r < 0.65:
            return "get", key, None, None
        if r < 0.9:
            expected = self.seen.get(key) if rng.random() < 0.7 else rng.choice([None, "nope"])
            return "cas", key, value, expected
        return "delete", key, None, None

    def issue(self, node: SimNode, step: int, op: tuple[str, str, str | None, str | None]) -> bool:
        """Send `op` to `node`; False when the member refused it outright."""
        kind, key, value, expected = op
        req_id = self._req_id()
        p = _Pending(kind, key, value, expected, self.now(), step + self.timeout, req_id)
        self.pending = p  # before sending: a member may answer at once
        try:
            if kind == "get":
                node.read(req_id.to_bytes(8, "big"), key, lambda out: self._reply(p, out))
            else:
                node.propose(req_id, encode_request(req_id, kind, key, value, expected),
                             lambda out: self._reply(p, out), refused=lambda: self._refused(p, step))
        except ProposalDropped:
            self._refused(p, step)
            return False
        return True

    def _refused(self, p: _Pending, step: int) -> None:
        """The member refused the request up front: it had no effect and is not recorded."""
        if self.pending is not p:
            return
        self.pending = None
        self.stats["refused"] += 1
        self.next_at = step + self.rng.randint(1, 4)

    def _reply(self, p: _Pending, output: object) -> None:
        if p.done or self.pending is not p:
            return  # answered after we gave up: stays indeterminate
        self._finish(p, output, timed_out=False)

    def _finish(self, p: _Pending, output: object, timed_out: bool) -> None:
        p.done = True
        self.pending = None
        if timed_out:
            self.stats["timeout"] += 1
            self.history.append(Op(self.id, p.kind, p.key, p.value, p.expected, None, p.invoke, None))
            return
        self.stats["ok"] += 1
        if p.kind == "get":
            assert output is None or isinstance(output, str)
            self.seen[p.key] = output
        elif p.kind == "put" or (p.kind == "cas" and output):
            self.seen[p.key] = p.value
        elif p.kind == "delete":
            self.seen[p.key] = None
        self.history.append(Op(self.id, p.kind, p.key, p.value, p.expected,
                               output, p.invoke, self.now()))
