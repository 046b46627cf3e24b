"""Cyclic garbage collector settings for a long-running server with a large live heap.

Why (bench/README.md, apiserver profile): the apiserver keeps every object of every
watched resource in memory (the watch caches: ~60 dicts and lists per pod), and each
request and watch event allocates hundreds of short-lived container objects (models,
dicts, futures, handles). With the default thresholds a young collection runs every 700
allocations and an older one every few of those, walking the requests in flight and the
recently cached objects again and again: 9-10 % of the apiserver's CPU under a create or
watch load. Almost none of it is garbage: request data and decoded JSON hold no reference
cycles and are freed by reference counting.

So: everything alive once the server has started (imported modules, classes, the first
relist of the caches) moves to the permanent generation (`gc.freeze`), which collections
never walk, and a young collection waits for many more allocations. Cyclic garbage is
still collected, just in fewer, larger passes.
"""

from __future__ import annotations

import gc

# Young collections after this many net allocations (default 700): a create allocates a few
# thousand objects, so requests in flight die before a collection sees them.
YOUNG_THRESHOLD = 50_000


def tune_for_server() -> None:
    """Freeze what is alive now and raise the young-generation threshold (call once started)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
