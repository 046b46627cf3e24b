"""A package's top-level names, imported from another module on first use (PEP 562).

Why: `kubelite.api` and `kubelite.client` re-export their public classes at the top, and
importing any submodule runs the package's `__init__` first. Eager re-exports made
`import kubelite.api.errors` build every pydantic model class (~0.2 s), which a short-lived
`kctl get` paid on every run without using one. With `__getattr__ = lazy_getattr(...)` the
re-exported names keep working (`from kubelite.api import Pod`) and load their module the
first time one is asked for; submodules import as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable


def lazy_getattr(package: str, exports: str) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that finds unknown names in module `exports`.

    A name that is a submodule of `package` is left to the import system (`from
    kubelite.api import columns` asks the package first and must not load `exports` then).
    """

    def __getattr__(name: str) -> object:
        if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is not None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value: object = getattr(importlib.import_module(exports), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
