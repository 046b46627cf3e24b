"""A package's top-level names, imported from their own module on first use (PEP 562).

Why: `kubelite.api` and `kubelite.client` re-export their public classes at the top, and
importing any submodule runs the package's `__init__` first. Eager re-exports made
`import kubelite.api.errors` build every pydantic model class (~0.2 s), which a short-lived
`kctl get` paid on every run without using one. With `__getattr__ = lazy_getattr(...)` the
re-exported names keep working (`from kubelite.api import Pod`) and load their module the
first time one is asked for; submodules import as before.

Each name loads only the module it comes from, not the whole exports module: a DNS server
asking for `Service` and `Endpoints` imports `kubelite.api.core`, not the Deployment, Job,
CronJob and ServiceAccount models (nor, for `kubelite.client`, the leader elector and
event recorder of a daemon that uses neither). Where each name comes from is read from the
exports module's own `from M import a, b` statements (`ast`, once per package), so that
module stays the one list of the names; a name it defines itself loads it whole.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path


def lazy_getattr(package: str, exports: str) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that finds unknown names in module `exports`.

    A name that is a submodule of `package` is left to the import system (`from
    kubelite.api import columns` asks the package first and must not load `exports` then).
    """
    homes: dict[str, str] = {}

    def __getattr__(name: str) -> object:
        if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is not None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if not homes:
            homes.update(import_homes(exports))
        try:
            value: object = getattr(importlib.import_module(homes.get(name, exports)), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def import_homes(module: str) -> dict[str, str]:
    """{name: the module it is imported from} for every top-level `from M import name` of
    `module`, read from its source without running it (empty when there is no source)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return {}
    tree = ast.parse(Path(spec.origin).read_bytes(), spec.origin)
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0
        for alias in node.names
        if alias.name != "*"
    }
