"""The linearizability checker accepts exactly the histories a sequential map can explain."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Hashable
from pathlib import Path

import pytest

from tests.checkers.linearizability import Op, check, check_key, dump_history, load_history, main


def op(kind: str, t0: int, t1: int | None, key: str = "k", value: Hashable = None,
       expected: Hashable = None, output: Hashable = None, client: int = 0) -> Op:
    return Op(client, kind, key, value, expected, output, t0, t1)


def test_sequential_history_is_linearizable() -> None:
    h = [
        op("put", 0, 1, value="a"),
        op("get", 2, 3, output="a"),
        op("cas", 4, 5, expected="a", value="b", output=True),
        op("cas", 6, 7, expected="a", value="c", output=False),
        op("get", 8, 9, output="b"),
        op("delete", 10, 11, output=True),
        op("get", 12, 13, output=None),
        op("delete", 14, 15, output=False),
        op("cas", 16, 17, expected=None, value="d", output=True),
        op("get", 18, 19, output="d"),
    ]
    res = check(h)
    assert res.ok, res.describe()


def test_stale_read_after_completed_write_is_a_violation() -> None:
    h = [
        op("put", 0, 1, value="a", client=1),
        op("put", 2, 3, value="b", client=1),
        op("get", 4, 5, output="a", client=2),
    ]
    res = check(h)
    assert not res.ok
    assert res.violations[0].key == "k"
    assert "NOT linearizable on key 'k'" in res.describe()


def test_concurrent_write_may_be_seen_either_way() -> None:
    for seen in ("a", "b"):
        h = [
            op("put", 0, 1, value="a", client=1),
            op("put", 2, 10, value="b", client=1),
            op("get", 3, 4, output=seen, client=2),
        ]
        assert check(h).ok


def test_reads_cannot_flip_back() -> None:
    # Both reads overlap the write, but once a reader saw the new value a later
    # read (that starts after the first one ended) must not see the old one.
    h = [
        op("put", 0, 1, value="a", client=1),
        op("put", 2, 20, value="b", client=1),
        op("get", 3, 4, output="b", client=2),
        op("get", 5, 6, output="a", client=3),
    ]
    assert not check(h).ok


def test_indeterminate_write_may_or_may_not_take_effect() -> None:
    base = [op("put", 0, 1, value="a", client=1), op("put", 2, None, value="b", client=1)]
    assert check(base + [op("get", 5, 6, output="a", client=2)]).ok
    assert check(base + [op("get", 5, 6, output="b", client=2)]).ok
    # ...but not both ways in sequence: once seen, it stays.
    h = base + [op("get", 5, 6, output="b", client=2), op("get", 7, 8, output="a", client=2)]
    assert not check(h).ok
    # ...and not before it was invoked.
    assert not check([op("put", 0, 1, value="a"), op("get", 2, 3, output="b"),
                      op("put", 4, None, value="b")]).ok


def test_value_nobody_wrote_is_a_violation() -> None:
    assert not check([op("get", 0, 1, output="ghost")]).ok


def test_failed_cas_must_really_fail() -> None:
    h = [op("put", 0, 1, value="a"), op("cas", 2, 3, expected="a", value="b", output=False)]
    assert not check(h).ok


def test_lost_acknowledged_write_is_a_violation() -> None:
    h = [op("put", 0, 1, value="a"), op("put", 2, 3, value="b"), op("get", 4, 5, output=None)]
    assert not check(h).ok


def test_keys_are_checked_independently() -> None:
    h = [op("put", 0, 1, key="x", value="1"), op("get", 2, 3, key="y", output=None),
         op("get", 2, 3, key="x", output="1"), op("get", 4, 5, key="y", output="1")]
    res = check(h)
    assert not res.ok
    assert [v.key for v in res.violations] == ["y"]


def test_history_round_trips_through_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = [op("put", 0, 1, value="a", client=1), op("put", 2, None, value="b"),
         op("cas", 3, 4, expected=None, value="c", output=False), op("get", 5, 6, output="b")]
    path = tmp_path / "history.jsonl"
    dump_history(h, path)
    assert load_history(path) == h
    assert main([str(path)]) == 0
    dump_history(h + [op("get", 7, 8, output="a")], path)
    assert main([str(path)]) == 1
    assert "NOT linearizable on key 'k'" in capsys.readouterr().out


def test_initial_state_is_honoured() -> None:
    assert check([op("get", 0, 1, output="v")], initial={"k": "v"}).ok


def test_bad_ops_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown op kind"):
        Op(0, "incr", "k")
    with pytest.raises(ValueError, match="completes before"):
        Op(0, "put", "k", "v", None, None, 5, 4)


def test_budget_exhaustion_is_reported_not_guessed() -> None:
    h = [op("put", 0, 100, value=i, client=i) for i in range(12)] + [op("get", 101, 102, output=99)]
    ok, _, _ = check_key("k", h, None, max_states=50)
    assert ok is None
    res = check(h, max_states_per_key=50)
    assert not res.ok and res.undecided_keys == ["k"]


# ------------------------------------------------------------- brute force oracle

def _sequential_ok(seq: list[Op]) -> bool:
    state: Hashable = None
    for o in seq:
        if o.kind == "put":
            state = o.value
        elif o.kind == "get":
            if o.output != state:
                return False
        elif o.kind == "delete":
            if o.output is not None and o.output != (state is not None):
                return False
            state = None
        else:
            hit = state == o.expected
            if o.output is not None and o.output != hit:
                return False
            if hit:
                state = o.value
    return True


def _brute_force(ops: list[Op]) -> bool:
    """Try every real-time-respecting order of every subset that keeps all completed ops."""
    done = [o for o in ops if o.complete_ns is not None]
    maybe = [o for o in ops if o.complete_ns is None]
    for r in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, r):
            chosen = done + list(extra)
            for perm in itertools.permutations(chosen):
                if any(a.complete_ns is not None and a.complete_ns < b.invoke_ns
                       for i, b in enumerate(perm) for a in perm[i + 1:]):
                    continue
                if _sequential_ok(list(perm)):
                    return True
    return False


def _random_history(rng: random.Random, n: int) -> list[Op]:
    """A history from a real sequential execution, then (sometimes) one corrupted output."""
    values = ["a", "b", "c"]
    spans = []
    for _ in range(n):
        t0 = rng.randrange(0, 20)
        spans.append((t0, t0 + rng.randrange(0, 8)))
    # linearization point inside each span; execute in point order
    points = sorted(range(n), key=lambda i: rng.uniform(spans[i][0], spans[i][1]))
    state: Hashable = None
    ops: list[Op | None] = [None] * n
    for i in points:
        t0, t1 = spans[i]
        kind = rng.choice(["put", "get", "delete", "cas"])
        indeterminate = kind != "get" and rng.random() < 0.2
        applied = not indeterminate or rng.random() < 0.5
        v = rng.choice(values)
        exp = rng.choice(values + [None])
        out: Hashable = None
        if kind == "put":
            if applied:
                state = v
        elif kind == "get":
            out = state
        elif kind == "delete":
            out = state is not None
            if applied:
                state = None
        else:
            out = state == exp
            if applied and out:
                state = v
        if indeterminate:
            out = None
        ops[i] = Op(i % 3, kind, "k", v, exp, out, t0, None if indeterminate else t1)
    result = [o for o in ops if o is not None]
    if rng.random() < 0.5:
        j = rng.randrange(n)
        o = result[j]
        if o.kind == "get":
            result[j] = Op(o.client, o.kind, o.key, o.value, o.expected,
                           rng.choice(values + [None]), o.invoke_ns, o.complete_ns)
        elif o.kind in ("cas", "delete") and o.output is not None:
            result[j] = Op(o.client, o.kind, o.key, o.value, o.expected, not o.output,
                           o.invoke_ns, o.complete_ns)
    return result


def test_agrees_with_brute_force_on_random_small_histories() -> None:
    rng = random.Random(7)
    verdicts = {True: 0, False: 0}
    for _ in range(600):
        h = _random_history(rng, rng.randrange(1, 7))
        want = _brute_force(h)
        got = check(h).ok
        assert got == want, "\n".join(map(str, h))
        verdicts[want] += 1
    assert verdicts[True] > 100 and verdicts[False] > 50  # both outcomes really exercised


def test_thousands_of_ops_check_quickly() -> None:
    """A long concurrent history (many keys, 5 clients, timeouts) checks in well under a second."""
    rng = random.Random(3)
    state: dict[str, Hashable] = {}
    ops: list[Op] = []
    clock = 0
    for i in range(6000):
        clock += 1
        key = f"k{rng.randrange(8)}"
        kind = rng.choice(["put", "get", "get", "cas", "delete"])
        v = f"v{i}"
        cur = state.get(key)
        exp = cur if rng.random() < 0.5 else "nope"
        out: Hashable = None
        if kind == "put":
            state[key] = v
        elif kind == "get":
            out = cur
        elif kind == "delete":
            out = cur is not None
            state.pop(key, None)
        else:
            out = cur == exp
            if out:
                state[key] = v
        # each op's span straddles its linearization point and overlaps its neighbours
        end: int | None = clock + rng.randrange(1, 5)
        if kind != "get" and rng.random() < 0.02:
            end, out = None, None
        ops.append(Op(i % 5, kind, key, v, exp, out, clock - rng.randrange(0, 4), end))
        clock += 1
    start = time.perf_counter()
    res = check(ops)
    elapsed = time.perf_counter() - start
    assert res.ok, res.describe()
    assert elapsed < 5.0, f"{elapsed:.2f}s"
