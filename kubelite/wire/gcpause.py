"""`gc_paused()`: no cyclic garbage collection while a batch of objects is built.

Why: decoding a List of 10,000 pods creates ~1.5 million dicts, lists and models. Each
700 new container objects start a young-generation collection and every tenth of those
an older one that walks the whole (growing) heap, so the collector ran for about two
thirds of the decode (profile in bench/README.md). Decoded JSON holds no reference
cycles, so nothing is lost by collecting once afterwards instead, when the normal
thresholds resume. The pause covers synchronous code only (no `await` inside), so no
other task runs under it; nesting keeps the outermost state.

`long_lived=True` is for a batch its caller keeps (every model of a typed List): deferring
the collector is not enough there, since the first young collection after the pause walks
the whole batch (~0.35 s for 10,000 pods, ~770,000 tracked objects) and the next middle one
walks it again (~0.5 s). Such a block ends by moving every tracked object into the oldest
generation (`gc.freeze()` then `gc.unfreeze()`, both O(1)), which only a full collection
walks. Side effect, accepted: a garbage cycle made just before the block waits for the next
full collection instead of a young one. Skipped when the process has frozen objects itself
(`kubelite/daemon/gctuning.py`): unfreezing would thaw them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(long_lived: bool = False) -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it only if it was on before.
    `long_lived`: on success, what the block built goes straight to the oldest generation."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if long_lived and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
    finally:
        if was_enabled:
            gc.enable()
