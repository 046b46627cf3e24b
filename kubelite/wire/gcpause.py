"""`gc_paused()`: no cyclic garbage collection while a batch of objects is built.

Why: decoding a List of 10,000 pods creates ~1.5 million dicts, lists and models. Each
700 new container objects start a young-generation collection and every tenth of those
an older one that walks the whole (growing) heap, so the collector ran for about two
thirds of the decode (profile in bench/README.md). Decoded JSON holds no reference
cycles, so nothing is lost by collecting once afterwards instead, when the normal
thresholds resume. The pause covers synchronous code only (no `await` inside), so no
other task runs under it; nesting keeps the outermost state.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it only if it was on before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
