"""No `extra=` key of a log call collides with a LogRecord attribute.

Why: `logging` raises KeyError("Attempt to overwrite 'name' in LogRecord") for such a key,
so the log line itself crashes the code path it describes -- a controller once failed every
reconcile that way, only at run time.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["kvstore", "apiserver", "scheduler", "controllers", "kubelet", "kubectl", "kubelite"]
RESERVED = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message", "asctime"}


def _bad_keys(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                for key in kw.value.keys:
                    if isinstance(key, ast.Constant) and key.value in RESERVED:
                        found.append(f"{path.relative_to(root)}:{node.lineno}: extra key {key.value!r}")
    return found


def test_log_extra_keys_do_not_overwrite_record_attributes() -> None:
    bad = [b for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py")) for b in _bad_keys(path)]
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_collision(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text('import logging\nlogging.getLogger().info("m", extra={"name": 1, "ok": 2})\n')
    assert _bad_keys(sample, tmp_path) == ["x.py:2: extra key 'name'"]
