"""The server GC settings: what is alive at start-up is never walked again, young collections
wait for many more allocations, and cyclic garbage is still collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kubelite.daemon.gctuning import YOUNG_THRESHOLD, tune_for_server


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_the_start_up_heap_and_still_collects_cycles() -> None:
    tune_for_server()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2  # a reference cycle made after tuning is garbage as before
