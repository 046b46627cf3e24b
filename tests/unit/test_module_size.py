"""No hand-written module grows past LIMIT lines (generated code in kubelite/pb aside).

Why a test: a module that keeps growing ends up holding several jobs that no
longer fit in a reader's head; when this fails, move one coherent job into its
own module (named for what it holds, with a docstring saying why it stands
apart) rather than raising the limit.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 650
GENERATED = (ROOT / "kubelite" / "pb",)
SKIPPED_DIRS = {"build", "dist", "node_modules", "__pycache__", "venv"}


def _modules() -> list[Path]:
    out = []
    for top, dirs, files in os.walk(ROOT):
        here = Path(top)
        dirs[:] = [d for d in dirs
                   if not d.startswith(".") and d not in SKIPPED_DIRS and here / d not in GENERATED]
        out.extend(here / f for f in files if f.endswith(".py"))
    return out


def test_finds_the_modules() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _modules()}
    assert "kvstore/node.py" in names
    assert not any(n.startswith("kubelite/pb/") for n in names)


def test_no_module_exceeds_the_limit() -> None:
    too_long = {}
    for path in _modules():
        with path.open("rb") as f:
            lines = sum(1 for _ in f)
        if lines > LIMIT:
            too_long[path.relative_to(ROOT).as_posix()] = lines
    assert not too_long, f"modules over {LIMIT} lines (split one job out of each): {too_long}"
