"""Linearizability checker for a single-key-operation key-value history.

Why it lives outside the code under test: the simulator (tests/sim) and the real-process
kvstore integration tests record what their *clients* saw, and this module decides whether
some sequential execution of a plain key-value map explains every observation while
respecting real time (an operation that completed before another was invoked must take
effect before it). A bug anywhere in Raft, apply or read paths that leaks to clients shows
up here, no matter how it came about.

History format (one `Op` per client request, in any order):

    Op(client, kind, key, value, expected, output, invoke_ns, complete_ns)

  kind "put":    set key := value.                         output ignored.
  kind "get":    read key.                                 output = value read, None = absent.
  kind "delete": remove key.                               output = True/False (a key was
                                                           deleted) or None (not checked).
  kind "cas":    if key's value == expected (None = "key absent"): key := value.
                                                           output = True/False succeeded,
                                                           None = unknown.
  invoke_ns / complete_ns: any monotonic clock shared by all clients (ns, ticks...).
  complete_ns None = indeterminate (timeout, lost connection): the op may or may not have
  taken effect, at any time after its invocation; its output is unknown. Requests that
  definitely failed without effect should simply not be recorded.

Values must be hashable and comparable with == (str or bytes in practice).
`dump_history` / `load_history` keep a history as JSON lines (str values) so a failing
integration run can be saved and re-checked: `python -m tests.checkers.linearizability F`.

Algorithm: every op touches one key, so the history is linearizable iff each key's
sub-history is (P-compositionality, Herlihy & Wing). Each sub-history is checked with
Wing & Gong's backtracking search over the call/return list, with Lowe's memoization of
(set of linearized ops, model state) pairs, so configurations reached twice are explored
once. Indeterminate ops have no return event: once every completed op is linearized, the
remaining indeterminate ops can all be placed at the end, where nothing observes them.
Indeterminate gets have no effect and are dropped up front.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["put", "get", "delete", "cas"]
KINDS: tuple[str, ...] = ("put", "get", "delete", "cas")


@dataclass(frozen=True)
class Op:
    """One client request as the client observed it (see the module docstring)."""

    client: int | str
    kind: str
    key: Hashable
    value: Hashable = None
    expected: Hashable = None
    output: Hashable = None
    invoke_ns: int = 0
    complete_ns: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown op kind {self.kind!r} (want one of {KINDS})")
        if self.complete_ns is not None and self.complete_ns < self.invoke_ns:
            raise ValueError(f"op completes before it is invoked: {self}")

    @property
    def indeterminate(self) -> bool:
        return self.complete_ns is None


@dataclass
class KeyViolation:
    """Why one key's sub-history has no linearization."""

    key: Hashable
    ops: list[Op]
    reason: str


@dataclass
class CheckResult:
    """Outcome of `check`: ok is True only when every key was proven linearizable."""

    violations: list[KeyViolation] = field(default_factory=list)
    undecided_keys: list[Hashable] = field(default_factory=list)
    keys: int = 0
    ops: int = 0
    states_explored: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations and not self.undecided_keys

    def describe(self, limit: int = 30) -> str:
        """A human-readable summary that names the offending key and its ops."""
        if self.ok:
            return f"linearizable: {self.ops} ops on {self.keys} keys ({self.states_explored} states)"
        lines: list[str] = []
        for v in self.violations:
            lines.append(f"NOT linearizable on key {v.key!r}: {v.reason}; its {len(v.ops)} ops:")
            for op in sorted(v.ops, key=lambda o: o.invoke_ns)[:limit]:
                lines.append(f"  {format_op(op)}")
            if len(v.ops) > limit:
                lines.append(f"  ... {len(v.ops) - limit} more")
        if self.undecided_keys:
            lines.append(f"search budget exhausted on keys {self.undecided_keys!r}")
        return "\n".join(lines)


def format_op(op: Op) -> str:
    end = "?" if op.complete_ns is None else str(op.complete_ns)
    args = {"put": f"{op.value!r}", "get": "", "delete": "",
            "cas": f"{op.expected!r}->{op.value!r}"}[op.kind]
    return f"[{op.invoke_ns}..{end}] client {op.client}: {op.kind}({args}) -> {op.output!r}"


_ABSENT = None


def _step(state: Hashable, op: Op) -> tuple[bool, Hashable]:
    """Apply `op` to the model value of its key: (consistent with the observed output, new state)."""
    kind = op.kind
    if kind == "put":
        return True, op.value
    if kind == "get":
        return op.output == state, state
    if kind == "delete":
        if op.output is not None and op.output != (state is not _ABSENT):
            return False, state
        return True, _ABSENT
    # cas
    hit = state == op.expected
    if op.output is not None and op.output != hit:
        return False, state
    return True, (op.value if hit else state)


class _Node:
    """A call or return event in the doubly linked event list (Wing & Gong)."""

    __slots__ = ("op", "idx", "is_call", "match", "prev", "next")

    def __init__(self, op: Op | None, idx: int, is_call: bool) -> None:
        self.op = op
        self.idx = idx
        self.is_call = is_call
        self.match: _Node | None = None  # call -> its return (None when indeterminate)
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _prepare(ops: list[Op]) -> list[Op]:
    """Drop ops that cannot constrain anything: indeterminate gets (no effect, no output)."""
    return [op for op in ops if not (op.indeterminate and op.kind == "get")]


def check_key(key: Hashable, ops: list[Op], initial: Hashable = None,
              max_states: int = 2_000_000) -> tuple[bool | None, int, str]:
    """Check one key's sub-history: (True | False | None=budget exhausted, states, reason)."""
    ops = _prepare(ops)
    if not ops:
        return True, 0, ""
    # Events sorted by time; at equal times calls come first, which makes the two ops
    # concurrent (the permissive reading: ties never produce a false violation).
    events: list[tuple[int, int, int, bool]] = []
    for i, op in enumerate(ops):
        events.append((op.invoke_ns, 0, i, True))
        if op.complete_ns is not None:
            events.append((op.complete_ns, 1, i, False))
    events.sort()
    head = _Node(None, -1, False)
    calls: dict[int, _Node] = {}
    prev = head
    for _t, _o, i, is_call in events:
        node = _Node(ops[i], i, is_call)
        if is_call:
            calls[i] = node
        else:
            calls[i].match = node
        prev.next, node.prev = node, prev
        prev = node

    returns_left = sum(1 for op in ops if op.complete_ns is not None)
    state: Hashable = initial
    linearized = 0
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Node, Hashable]] = []
    entry = head.next
    explored = 0
    deepest = 0
    deepest_op: Op | None = None

    def lift(call: _Node) -> None:
        assert call.prev is not None
        call.prev.next = call.next
        if call.next is not None:
            call.next.prev = call.prev
        ret = call.match
        if ret is not None:
            assert ret.prev is not None
            ret.prev.next = ret.next
            if ret.next is not None:
                ret.next.prev = ret.prev

    def unlift(call: _Node) -> None:
        ret = call.match
        if ret is not None:
            assert ret.prev is not None
            ret.prev.next = ret
            if ret.next is not None:
                ret.next.prev = ret
        assert call.prev is not None
        call.prev.next = call
        if call.next is not None:
            call.next.prev = call

    while returns_left:
        if entry is not None and entry.is_call:
            assert entry.op is not None
            ok, new_state = _step(state, entry.op)
            if ok:
                new_lin = linearized | (1 << entry.idx)
                config = (new_lin, new_state)
                if config not in seen:
                    explored += 1
                    if explored > max_states:
                        return None, explored, "search budget exhausted"
                    seen.add(config)
                    stack.append((entry, state))
                    state, linearized = new_state, new_lin
                    if entry.match is not None:
                        returns_left -= 1
                    lift(entry)
                    if len(stack) > deepest:
                        deepest, deepest_op = len(stack), entry.op
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # A return event (or the end of the list): the op it belongs to was not
        # linearized before its response, so the last choice was wrong.
        if not stack:
            reason = "no linearization"
            if deepest_op is not None:
                reason += (f"; longest linearizable prefix has {deepest} ops, ending with "
                           f"{format_op(deepest_op)}")
            return False, explored, reason
        top, state = stack.pop()
        linearized &= ~(1 << top.idx)
        if top.match is not None:
            returns_left += 1
        unlift(top)
        entry = top.next
    return True, explored, ""


def check(history: Iterable[Op], initial: dict[Hashable, Hashable] | None = None,
          max_states_per_key: int = 2_000_000) -> CheckResult:
    """Check a whole history; keys absent from `initial` start absent (None)."""
    by_key: dict[Hashable, list[Op]] = defaultdict(list)
    n = 0
    for op in history:
        by_key[op.key].append(op)
        n += 1
    result = CheckResult(keys=len(by_key), ops=n)
    init = initial or {}
    for key, ops in by_key.items():
        ok, explored, reason = check_key(key, ops, init.get(key), max_states_per_key)
        result.states_explored += explored
        if ok is None:
            result.undecided_keys.append(key)
        elif not ok:
            result.violations.append(KeyViolation(key, ops, reason))
    return result


def dump_history(ops: Iterable[Op], path: Path) -> None:
    """Write one JSON object per op (values must be JSON-serialisable, e.g. str)."""
    with path.open("w") as f:
        for op in ops:
            f.write(json.dumps(asdict(op)) + "\n")


def load_history(path: Path) -> list[Op]:
    return [Op(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.checkers.linearizability HISTORY.jsonl", file=sys.stderr)
        return 2
    result = check(load_history(Path(argv[0])))
    print(result.describe())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
