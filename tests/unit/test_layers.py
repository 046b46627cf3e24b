"""Layers only import downward (ARCHITECTURE.md): a daemon never imports another
daemon, `client` never imports a daemon, `api` imports nothing of ours.

Why a test and not a convention: an upward import is how a small tree turns into
a tangle; failing CI on the first one keeps the layering real.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"api", "client", "pb", "daemon", "kvstore", "apiserver", "scheduler", "controllers", "kubelet", "kubectl", "kubelite",
        "proxy", "clusterdns"}
ALLOWED: dict[str, set[str]] = {
    "pb": {"pb"},
    "api": {"api"},
    "daemon": {"daemon"},
    "client": {"client", "api", "pb"},
    "kvstore": {"kvstore", "pb", "daemon"},
    "apiserver": {"apiserver", "client", "api", "pb", "daemon"},
    "scheduler": {"scheduler", "client", "api", "pb", "daemon"},
    "controllers": {"controllers", "client", "api", "pb", "daemon"},
    "kubelet": {"kubelet", "client", "api", "pb", "daemon"},
    "proxy": {"proxy", "client", "api", "pb", "daemon"},
    "clusterdns": {"clusterdns", "client", "api", "pb", "daemon"},
    "kubectl": {"kubectl", "client", "api", "pb"},
    "kubelite": OURS,
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_every_package_imports_only_downward() -> None:
    violations = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in sorted(_imported_packages(path) - allowed):
                violations.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not violations, "upward or sideways imports:\n" + "\n".join(violations)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import apiserver.main\nfrom kubelet import x\nimport os\n")
    assert _imported_packages(bad) == {"apiserver", "kubelet"}
