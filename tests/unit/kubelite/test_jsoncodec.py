"""The shared JSON codec gives the same answers with orjson and with the standard-library fallback."""

from __future__ import annotations

import gc
import json

import pytest

from kubelite.wire import jsoncodec
from kubelite.wire.gcpause import gc_paused

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "labels": {"app": "wéb"}},
       "spec": {"containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 80}]}]},
       "status": {"phase": "Running", "ratio": 0.5, "ready": True, "message": None}}


@pytest.fixture(params=["orjson", "json"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with orjson (when installed) and with the fallback forced."""
    if request.param == "json":
        monkeypatch.setattr(jsoncodec, "_orjson", None)
    elif jsoncodec.backend() != "orjson":
        pytest.skip("orjson is not installed")
    return str(request.param)


def test_round_trip_is_compact_utf8_in_key_order(codec: str) -> None:
    raw = jsoncodec.dumps(POD)
    assert jsoncodec.backend() == codec
    assert raw == json.dumps(POD, separators=(",", ":"), ensure_ascii=False).encode()
    assert jsoncodec.loads(raw) == POD
    assert jsoncodec.loads(raw.decode()) == POD
    assert jsoncodec.loads(memoryview(raw)) == POD


def test_bad_input_raises_value_error_worded_by_the_standard_library(codec: str) -> None:
    with pytest.raises(ValueError) as err:
        jsoncodec.loads(b'{"a": ')
    with pytest.raises(ValueError) as expected:
        json.loads(b'{"a": ')
    assert str(err.value) == str(expected.value)


def test_what_orjson_refuses_is_still_handled(codec: str) -> None:
    assert jsoncodec.loads(b'{"a": NaN}')["a"] != jsoncodec.loads(b'{"a": NaN}')["a"]  # NaN, as json reads it
    assert jsoncodec.dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert jsoncodec.dumps({1: "int key"}) == b'{"1":"int key"}'
    assert jsoncodec.loads(jsoncodec.dumps({"s": "\ud800"})) == {"s": "\ud800"}


def test_gc_paused_restores_the_collector_state() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_deeply_nested_input_is_a_value_error_or_recursion_error_never_a_crash(codec: str) -> None:
    """orjson 3.8 crashed the process on this; the pinned version refuses it and json decides."""
    for raw in (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises((ValueError, RecursionError)):
            jsoncodec.loads(raw)


def test_gc_paused_long_lived_moves_the_batch_to_the_oldest_generation() -> None:
    """Young collections must not walk a kept batch: it lands in generation 2, and a cycle
    made in the block is still found by a full collection."""
    gc.unfreeze()  # another test in this process may have frozen its heap (kctl's session does)
    gc.collect()
    with gc_paused(long_lived=True):
        batch = [[i] for i in range(1000)]
        cycle: list[object] = []
        cycle.append(cycle)
    assert gc.isenabled()
    assert all(gc.is_tracked(x) for x in batch[:3])
    young = {id(o) for o in gc.get_objects(generation=0)} | {id(o) for o in gc.get_objects(generation=1)}
    assert not any(id(x) in young for x in batch)
    old = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(x) in old for x in batch)
    del cycle
    assert gc.collect() >= 1


def test_gc_paused_long_lived_leaves_a_frozen_heap_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused(long_lived=True):
            _ = [[i] for i in range(10)]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
