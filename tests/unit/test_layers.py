"""Layers only import downward (ARCHITECTURE.md): a daemon never imports another
daemon, `kubelite.client` never imports a daemon, `kubelite.api` imports nothing of ours, and the
`kubelite.wire` contract sits below both the client and the apiserver.

Why a test and not a convention: an upward import is how a small tree turns into
a tangle; failing CI on the first one keeps the layering real.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBS = {"kubelite.api", "kubelite.client", "kubelite.pb", "kubelite.wire", "kubelite.daemon", "kubelite.proxy",
        "kubelite.clusterdns", "kubelite.ingress"}
"""Shared libraries and the node/cluster add-on daemons live inside the `kubelite` package."""
OURS = LIBS | {"kvstore", "apiserver", "scheduler", "controllers", "kubelet", "kubectl", "kubelite"}
_DAEMON_DEPS = {"kubelite.client", "kubelite.api", "kubelite.pb", "kubelite.wire", "kubelite.daemon"}
ALLOWED: dict[str, set[str]] = {
    "kubelite.pb": {"kubelite.pb"},
    "kubelite.api": {"kubelite.api"},
    "kubelite.daemon": {"kubelite.daemon"},
    "kubelite.wire": {"kubelite.wire", "kubelite.api", "kubelite.pb"},
    "kubelite.client": {"kubelite.client", "kubelite.wire", "kubelite.api", "kubelite.pb"},
    "kvstore": {"kvstore", "kubelite.pb", "kubelite.daemon"},
    "apiserver": {"apiserver"} | _DAEMON_DEPS - {"kubelite.client"},  # the wire contract, not the client
    "scheduler": {"scheduler"} | _DAEMON_DEPS,
    "controllers": {"controllers"} | _DAEMON_DEPS,
    "kubelet": {"kubelet"} | _DAEMON_DEPS,
    "kubelite.proxy": {"kubelite.proxy"} | _DAEMON_DEPS,
    "kubelite.clusterdns": {"kubelite.clusterdns"} | _DAEMON_DEPS,
    "kubelite.ingress": {"kubelite.ingress", "kubelite.proxy"} | _DAEMON_DEPS,  # reuses the proxy's SyncRunner
    "kubectl": {"kubectl", "kubelite.client", "kubelite.wire", "kubelite.api", "kubelite.pb"},
    "kubelite": OURS,
}


def _layer(module: str) -> str:
    """`kubelite.api.pods` -> `kubelite.api`; `kubelet.runc.x` -> `kubelet`."""
    parts = module.split(".")
    two = ".".join(parts[:2])
    return two if two in LIBS else parts[0]


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_layer(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "kubelite":
                found.update(_layer(f"kubelite.{alias.name}") for alias in node.names)
            else:
                found.add(_layer(node.module))
    return found & OURS


def _files_of(package: str) -> list[Path]:
    root = ROOT / package.replace(".", "/")
    files = sorted(root.rglob("*.py"))
    if package == "kubelite":  # the CLI itself, not the libraries nested in it
        files = [f for f in files if _layer("kubelite." + ".".join(f.relative_to(root).with_suffix("").parts))
                 == "kubelite"]
    return files


def test_every_package_imports_only_downward() -> None:
    violations = []
    for package, allowed in ALLOWED.items():
        for path in _files_of(package):
            for imported in sorted(_imported_packages(path) - allowed):
                violations.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not violations, "upward or sideways imports:\n" + "\n".join(violations)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import apiserver.main\nfrom kubelet import x\nimport os\nfrom kubelite.api import pods\n"
                   "from kubelite import client\n")
    assert _imported_packages(bad) == {"apiserver", "kubelet", "kubelite.api", "kubelite.client"}
